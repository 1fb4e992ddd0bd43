"""Which genotypes of a sweep to train: those meeting every budget, deduplicated, ranked, the top K.

RAPDARTS (Sec. V, Fig. 7) keeps the architectures of its sweep under the 3M-parameter budget and
trains the 16 largest, because at that scale capacity predicts the trained error better than the
search's own accuracy. Sweeps often derive the same cell twice (neighbouring lambdas, a cost
that does not bind), so genotypes are grouped by :meth:`Genotype.canonical_key` first: each
distinct one is trained once, and the table says which searches found it.

Ranking (``by``) takes one or more criteria: a cost name ranks by that cost, largest first (all
candidates meet the budget, so largest is nearest it: the paper's rule), ``accuracy`` by the
search's final validation accuracy, highest first. With several criteria the ranks are added
(a Borda count), ties broken by the first criterion: a genotype both large and accurate comes
first, and no scale has to be chosen between parameters and accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapdarts.budget.values import parse_budget_value
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import Genotype

ACCURACY = "accuracy"


@dataclass(frozen=True)
class Candidate:
    """A distinct genotype of the sweep: its costs on the sweep's target network, and who found it."""

    key: str
    genotype: dict[str, Any]
    summary: str
    costs: dict[str, float | None]
    valid_acc: float | None
    """The best final validation accuracy of the searches that found it."""
    searches: tuple[int, ...]
    """Sweep indices of the searches that derived it."""

    def value(self, criterion: str) -> float | None:
        return self.valid_acc if criterion == ACCURACY else self.costs.get(criterion)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "genotype": self.genotype, "summary": self.summary, "costs": self.costs,
                "valid_acc": self.valid_acc, "searches": list(self.searches)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(data["key"], data["genotype"], data["summary"], dict(data["costs"]), data["valid_acc"],
                   tuple(data["searches"]))


def cost_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Costs every finished search of the sweep has a figure for."""
    names = [name for name in rows[0]["costs"]] if rows else []
    return [name for name in names if all(row["costs"].get(name) is not None for row in rows)]


def resolve_budgets(plan: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], budgets: Mapping[str, str] | None
                    ) -> dict[str, dict[str, Any]]:
    """``{name: {"text", "value", "unit"}}``: the budgets given (values in the sweep's units), else the sweep's own.

    A budget on a cost the sweep has no figure for is a one-line error naming the costs it has.
    """
    if not budgets:
        return {name: {"text": b["text"], "value": b["value"], "unit": b["unit"]}
                for name, b in plan.get("budgets", {}).items()}
    available = cost_names(rows)
    units = plan.get("units", {})
    resolved = {}
    for name, text in budgets.items():
        if name not in available:
            raise RapdartsError(f"budget {name!r}: the sweep has no {name} figure for its searches (it has "
                                f"{', '.join(available) or 'none'}); budget one of those, or price {name} in the "
                                "sweep with --cost-option")
        unit = units.get(name, name)
        resolved[name] = {"text": str(text), "value": parse_budget_value(name, text, unit), "unit": unit}
    return resolved


def check_criteria(by: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ranking criteria, each a cost of the sweep or ``accuracy``; one-line errors otherwise."""
    criteria = list(dict.fromkeys(by))
    if not criteria:
        raise RapdartsError("rank by at least one criterion: --by COST (largest first) or --by accuracy")
    available = cost_names(rows)
    for criterion in criteria:
        if criterion != ACCURACY and criterion not in available:
            raise RapdartsError(f"--by {criterion}: rank by a cost of the sweep ({', '.join(available)}) or by "
                                f"{ACCURACY}")
    return criteria


def distinct_candidates(rows: Sequence[Mapping[str, Any]]) -> list[Candidate]:
    """One :class:`Candidate` per distinct genotype of the sweep's results, in order of first appearance."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["index"]):
        key = Genotype.from_dict(row["genotype"], f"search {row['index']} of the sweep").canonical_key()
        groups.setdefault(key, []).append(row)
    candidates = []
    for key, group in groups.items():
        accuracies = [row["valid_acc"] for row in group if row.get("valid_acc") is not None]
        first = group[0]
        candidates.append(Candidate(key, first["genotype"], first["summary"], dict(first["costs"]),
                                    max(accuracies) if accuracies else None, tuple(row["index"] for row in group)))
    return candidates


def meets(candidate: Candidate, budgets: Mapping[str, Mapping[str, Any]]) -> bool:
    return all(candidate.costs.get(name) is not None and candidate.costs[name] <= budget["value"]
               for name, budget in budgets.items())


def rank(candidates: Sequence[Candidate], criteria: Sequence[str]) -> list[Candidate]:
    """Best first: the sum of each criterion's rank (largest value first; a missing value last), ties broken by the
    first criterion's value, then by the first search that found the genotype."""
    def ranks(criterion: str) -> dict[str, int]:
        ordered = sorted(candidates, key=lambda c: (c.value(criterion) is None, -(c.value(criterion) or 0.0)))
        return {c.key: position for position, c in enumerate(ordered)}

    per_criterion = [ranks(criterion) for criterion in criteria]
    first = criteria[0]
    return sorted(candidates, key=lambda c: (sum(r[c.key] for r in per_criterion), -(c.value(first) or 0.0),
                                             c.searches[0]))


def select_genotypes(rows: Sequence[Mapping[str, Any]], budgets: Mapping[str, Mapping[str, Any]], top: int,
           by: Sequence[str]) -> tuple[list[Candidate], dict[str, int]]:
    """The ``top`` best distinct genotypes meeting every budget, and counts of what was left out and why."""
    if top < 1:
        raise RapdartsError(f"--top {top}: select at least one genotype to train")
    criteria = check_criteria(by, rows)
    distinct = distinct_candidates(rows)
    meeting = [c for c in distinct if meets(c, budgets)]
    if not meeting:
        limits = ", ".join(f"{name} <= {b['text']}" for name, b in budgets.items())
        raise RapdartsError(f"no genotype of the sweep's {len(rows)} searches meets {limits}; raise the budget or "
                            "run more searches ('rapdarts sweep --resume' with --refine, or a new sweep)")
    chosen = rank(meeting, criteria)[:top]
    counts = {"searches": len(rows), "distinct": len(distinct), "meeting_budgets": len(meeting),
              "selected": len(chosen)}
    return chosen, counts
