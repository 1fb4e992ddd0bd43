"""Budget-targeted search: ``--budget params=3M`` adapts each cost's lambda within one search.

Instead of a fixed lambda per cost (the paper sweeps lambda over 40 searches to find one under
budget), each budget ``C_m <= B_m`` gets a Lagrange multiplier updated by projected dual ascent
after every alpha step, as LightNAS does for latency (gradient ascent on ``LAT/T - 1``):

    mu_m <- max(0, mu_m + eta * (C_m / B_m - 1)),      lambda_m = mu_m / B_m.

``mu = lambda * B`` is dimensionless, so one step size ``eta`` (``budget_step``) serves parameters,
flops and milliseconds alike. The update is additive rather than in log space so that a budget
that is not binding lets its multiplier fall to exactly zero: the search is then the plain
accuracy search, and the architecture keeps as much capacity as the budget allows. It is made
once per alpha step (not per epoch) because alphas move by about one Adam step per step, whatever
the profile. ``C_m`` is the derivation-aware expected cost (:mod:`rapdarts.budget_cost`), which
tracks the cost of the genotype derivation will keep, unlike the 14-edge expectation. The
multipliers carry over from one P-DARTS stage to the next and are part of the checkpoint. A final
genotype that still ends over a budget is repaired (:mod:`rapdarts.budget_repair`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import SearchConfig
from .costs.evaluate import CostEvaluator
from .costs.extension import CostExtension, providers_for
from .costs.plugins import Providers
from .costs.provider import CostProvider
from .costs.table import CostTable, ExpectedCost, genotype_costs
from .costs.target import TargetNetwork
from .budget_cost import derived_expected_cost, extreme_cost
from .errors import RapdartsError
from .genotype import CELL_TYPES, Genotype

log = logging.getLogger("rapdarts")

SI_PREFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
TIME_UNITS_MS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "µs": 1e-3}
TRAJECTORY_POINTS = 64
"""At most this many (lambda, cost) points per epoch go into metrics.jsonl."""


@dataclass(frozen=True)
class Budget:
    """``cost <= value`` for provider ``name`` (``value`` in the provider's unit; ``text`` as given)."""

    name: str
    value: float
    unit: str
    text: str

    def describe(self, value: float | None = None) -> str:
        return f"{number(self.value if value is None else value)} {self.unit}"


def number(value: float) -> str:
    """``1,368,190`` for whole numbers, ``4.25`` or ``1.5e-07`` otherwise."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.6g}"


def parse_budget_value(name: str, text: str | float, unit: str) -> float:
    """``"3M"``, ``"3e6"``, ``"3M parameters"``, ``"4ms"`` -> a number in ``unit``, or a one-line error.

    An SI prefix (k, M, G, T) may precede the unit; the unit, if given, must be the provider's (its
    full name, its first word, or the cost name), and for time units s, ms and us convert.
    """
    raw = str(text).strip()
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(.*)", raw)
    if match is None:
        raise RapdartsError(f"budget {name}={raw!r}: expected a number with an optional unit, e.g. {name}=3M")
    number, rest = float(match[1]), match[2].strip()
    words = {unit, unit.split()[0], name}
    if rest in TIME_UNITS_MS and unit in TIME_UNITS_MS:
        value = number * TIME_UNITS_MS[rest] / TIME_UNITS_MS[unit]
    else:
        multiplier = 1.0
        if rest[:1] in SI_PREFIXES and rest not in words:
            multiplier, rest = SI_PREFIXES[rest[0]], rest[1:].strip()
        if rest and rest not in words:
            raise RapdartsError(f"budget {name}={raw!r}: {name} is measured in {unit}, not {rest!r}; give a plain "
                                f"number of {unit} (SI prefixes k, M, G allowed, e.g. {name}=3M)")
        value = number * multiplier
    if not value > 0 or not math.isfinite(value):
        raise RapdartsError(f"budget {name}={raw!r} must be a positive, finite number of {unit}")
    return value


def resolve_budgets(config: SearchConfig, providers: Providers) -> dict[str, Budget]:
    """The config's budgets with values in provider units; unknown names and conflicts are errors."""
    budgets = {}
    for name, text in config.budgets.items():
        provider = providers.get(name)
        if name in config.costs:
            raise RapdartsError(f"cost {name!r} has both a fixed lambda (--cost {name}={config.costs[name]:g}) and a "
                                f"budget (--budget {name}={text}); a budget adapts its own lambda: drop one of them")
        budgets[name] = Budget(name, parse_budget_value(name, text, provider.unit), provider.unit, str(text))
    if budgets and config.cost_target != "eval":
        raise RapdartsError("budgets apply to the evaluation network; --cost-target search cannot be combined "
                            "with --budget")
    return budgets


def target_for(config: SearchConfig, dataset: Mapping[str, Any]) -> TargetNetwork:
    """The evaluation network costs are priced in, shaped like the search's data (``dataset_info``)."""
    return TargetNetwork(config.target_channels, config.target_cells, int(dataset["num_classes"]),
                         int(dataset["in_channels"]), tuple(dataset["image_size"]), config.cost_batch)


def cost_range(provider: CostProvider, config: SearchConfig, target: TargetNetwork,
               evaluator: CostEvaluator | None = None) -> tuple[float, float]:
    """``(floor, ceiling)``: the cheapest and dearest genotype the search space allows for ``provider``.

    The floor is every kept edge at its cheapest op other than ``none`` (at most
    ``max_skip_connects`` skip-connects in the normal cell) plus the fixed parts.
    """
    candidates = {cell: tuple(tuple(config.primitives) for _ in range(14)) for cell in CELL_TYPES}
    table = CostTable.build(provider, target, candidates, evaluator or CostEvaluator())
    return (extreme_cost(table, candidates, True, config.max_skip_connects),
            extreme_cost(table, candidates, False, config.max_skip_connects))


def check_budgets(budgets: Mapping[str, Budget], providers: Sequence[CostProvider], config: SearchConfig,
                  target: TargetNetwork, evaluator: CostEvaluator | None = None) -> dict[str, tuple[float, float]]:
    """``{name: (floor, ceiling)}``; a budget below its floor is a one-line error giving the floor."""
    by_name = {provider.name: provider for provider in providers}
    ranges = {}
    for name, budget in budgets.items():
        floor, ceiling = cost_range(by_name[name], config, target, evaluator)
        ranges[name] = (floor, ceiling)
        if budget.value < floor:
            raise RapdartsError(f"budget {name}={budget.text} is below the cheapest architecture this search space "
                                f"allows ({budget.describe(floor)} in the {target.C}-channel, {target.layers}-cell "
                                f"evaluation network); raise the budget to at least {number(floor)}, or shrink "
                                "--target-channels/--target-cells")
        if budget.value >= ceiling:
            log.warning("budget %s=%s is at or above the dearest architecture of the search space (%s): it cannot "
                        "bind", name, budget.text, budget.describe(ceiling))
    return ranges


def dual_step(multiplier: float, cost: float, budget: float, step: float) -> float:
    """Projected dual ascent on ``cost / budget - 1 <= 0``: the new multiplier ``mu`` (>= 0)."""
    return max(0.0, multiplier + step * (cost / budget - 1.0))


class BudgetTerm:
    """A :class:`~rapdarts.loss.LossTerm` ``lambda * C`` with ``C`` the derivation-aware expected cost."""

    def __init__(self, table: CostTable, candidates: Mapping[str, Sequence[Sequence[str]]], config: SearchConfig,
                 weight: float):
        self.table = table
        self.candidates = candidates
        self.config = config
        self.weight = weight
        self.name = table.provider.name

    def value(self, model: nn.Module) -> torch.Tensor:
        return derived_expected_cost(model.alphas(), self.table, self.candidates, self.config.budget_temperature,
                                     self.config.max_skip_connects)


class BudgetExtension(CostExtension):
    """Costs with fixed lambdas (``config.costs``) plus budgets whose lambdas adapt (``config.budgets``).

    Unknown cost names, unit mismatches and conflicts fail at construction; budgets below the
    search space's floor fail in :meth:`prepare`, before the search writes anything.
    """

    def __init__(self, config: SearchConfig, providers: Providers | None = None,
                 evaluator: CostEvaluator | None = None):
        providers = providers if providers is not None else providers_for(config)
        self.budgets = resolve_budgets(config, providers)
        super().__init__(config, providers, evaluator)
        self.providers = providers.select([*config.costs, *(n for n in self.budgets if n not in config.costs)])
        self.multipliers = {name: float(config.budget_init) for name in self.budgets}
        self.terms: dict[str, BudgetTerm] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        self._steps: dict[str, list[tuple[float, float]]] = {name: [] for name in self.budgets}
        self.repair: dict[str, Any] | None = None

    # ----------------------------------------------------------------- engine hooks
    def prepare(self, dataset: Mapping[str, Any]) -> None:
        """Reject budgets below the floor of the search space (called before anything is written)."""
        self.ranges = check_budgets(self.budgets, self.providers, self.config, target_for(self.config, dataset),
                                    self.evaluator)
        for name, budget in self.budgets.items():
            floor, ceiling = self.ranges[name]
            log.info("budget %s <= %s (search space: %s to %s)", name, budget.describe(), number(floor),
                     number(ceiling))

    def loss_terms(self, model: nn.Module, stage: int) -> list[Any]:
        self.candidates = model.candidates
        terms: list[Any] = []
        for table in self.build_tables(model, stage):
            name = table.provider.name
            if name in self.budgets:
                self.terms[name] = BudgetTerm(table, model.candidates, self.config,
                                              self.multipliers[name] / self.budgets[name].value)
                terms.append(self.terms[name])
            else:
                terms.append(ExpectedCost(table, self.config.costs[name]))
        return terms

    def after_alpha_step(self, model: nn.Module, parts: Mapping[str, torch.Tensor]) -> None:
        """One dual-ascent step per budget, on the expected cost the alpha step just saw."""
        for name, term in self.terms.items():
            if name in parts:
                cost = float(parts[name])
            else:  # a zero multiplier skips the term in the loss; the constraint is still watched
                with torch.no_grad():
                    cost = float(term.value(model))
            budget = self.budgets[name].value
            self.multipliers[name] = dual_step(self.multipliers[name], cost, budget, self.config.budget_step)
            term.weight = self.multipliers[name] / budget
            self._steps[name].append((term.weight, cost))

    def epoch_metrics(self, model: nn.Module, genotype: Genotype) -> dict[str, Any]:
        row = super().epoch_metrics(model, genotype)
        alphas = {cell: alpha.detach() for cell, alpha in model.alphas().items()}
        with torch.no_grad():
            predicted = {table.provider.name: float(derived_expected_cost(
                alphas, table, model.candidates, self.config.budget_temperature, self.config.max_skip_connects))
                for table in self.tables}
        row["predicted_cost"] = predicted
        budgets = {}
        for name, budget in self.budgets.items():
            steps = self._steps[name]
            stride = max(1, math.ceil(len(steps) / TRAJECTORY_POINTS))
            budgets[name] = {
                "budget": budget.value, "lambda": self.multipliers[name] / budget.value,
                "multiplier": self.multipliers[name], "predicted": predicted[name],
                "derived": row["genotype_cost"][name], "meets": row["genotype_cost"][name] <= budget.value,
                "step_lambda": [lam for lam, _ in steps[::stride]], "step_cost": [c for _, c in steps[::stride]],
            }
            self._steps[name] = []
            log.info("  budget %s: lambda %.4g, predicted %s, derived %s (budget %s)%s", name,
                     budgets[name]["lambda"], budget.describe(predicted[name]),
                     budget.describe(row["genotype_cost"][name]), budget.describe(),
                     "" if budgets[name]["meets"] else "  OVER")
        row["budgets"] = budgets
        return row

    def final_genotype(self, model: nn.Module, candidates: Mapping[str, Any], genotype: Genotype) -> Genotype:
        """The last stage's genotype, repaired (:mod:`rapdarts.budget_repair`) if it ends over a budget.

        The repair may use any op of the search space, not only the last stage's candidates: pruning
        can leave an edge that must be kept (both edges of the first node are) with only
        convolutions, and the budget is checked against the floor of the whole space. Ops pruned
        earlier count as probability 0, so the repair prefers the ones the last stage kept.
        """
        from .budget_repair import repair_genotype

        limits = {name: budget.value for name, budget in self.budgets.items()}
        before = genotype_costs(genotype, self.providers, self._target, self.evaluator)
        if all(before[name] <= limit for name, limit in limits.items()) or not self.config.budget_repair:
            return genotype
        names = tuple(self.config.primitives)
        space = {cell: tuple(names for _ in edges) for cell, edges in candidates.items()}
        tables = {p.name: CostTable.build(p, self._target, space, self.evaluator) for p in self.providers
                  if p.name in self.budgets}
        probs = {}
        for cell, stage_probs in model.probabilities().items():
            probs[cell] = torch.zeros(len(candidates[cell]), len(names), dtype=torch.float64)
            for edge, ops in enumerate(candidates[cell]):
                for position, op in enumerate(ops):
                    probs[cell][edge, names.index(op)] = float(stage_probs[edge, position])
        repaired, moves = repair_genotype(genotype, space, probs, tables, limits, self.config.max_skip_connects)
        after = genotype_costs(repaired, self.providers, self._target, self.evaluator)
        self.repair = {"before": before, "after": after, "moves": moves, "genotype_before": genotype.to_dict()}
        over = ", ".join(f"{name} {number(before[name])} > {number(limit)}" for name, limit in limits.items()
                         if before[name] > limit)
        changes = "; ".join(f"{m['cell']} cell: {m['from'][0]} on edge {m['from'][1]} -> {m['to'][0]} on edge "
                            f"{m['to'][1]}" for m in moves)
        log.warning("the search ended over budget (%s); repaired by %d op change(s): %s", over, len(moves), changes)
        return repaired

    def state_dict(self) -> dict[str, Any]:
        return {"multipliers": dict(self.multipliers), "repair": self.repair}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.multipliers.update({name: float(value) for name, value in state["multipliers"].items()})
        self.repair = state.get("repair")

    def finish(self, run_dir: Path, metrics: list[dict[str, Any]]) -> None:
        """Write ``budgets.json`` (stage-end predictions vs actual costs) and ``plots/budgets.png``."""
        from .atomic import atomic_write_json
        from .budget_plots import plot_budgets

        summary = budget_summary(metrics, self.budgets, self.repair)
        atomic_write_json(Path(run_dir) / "budgets.json", summary)
        for row in summary["stage_ends"]:
            for name, entry in row["costs"].items():
                log.info("stage %d end, %s: derived %s; predicted %s (error %+.1f%%), 14-edge expectation %s "
                         "(error %+.1f%%)", row["stage"], name, number(entry["derived"]), number(entry["predicted"]),
                         100 * entry["predicted_error"], number(entry["expected"]), 100 * entry["expected_error"])
        if self.budgets and metrics:
            plot_budgets(metrics, Path(run_dir) / "plots" / "budgets.png")


def budget_summary(metrics: Iterable[Mapping[str, Any]], budgets: Mapping[str, Budget],
                   repair: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per stage end and cost: derived cost, both predictions and their relative errors; final budget status
    (``searched``: the genotype the search derived; ``final``: after a repair, if one was needed)."""
    rows = list(metrics)
    stage_ends = []
    for index, row in enumerate(rows):
        if index + 1 < len(rows) and rows[index + 1]["stage"] == row["stage"]:
            continue
        costs = {}
        for name, actual in row.get("genotype_cost", {}).items():
            predicted, expected = row["predicted_cost"][name], row["expected_cost"][name]
            costs[name] = {"derived": actual, "predicted": predicted, "expected": expected,
                           "predicted_error": predicted / actual - 1.0, "expected_error": expected / actual - 1.0}
        stage_ends.append({"stage": row["stage"], "costs": costs})
    final = rows[-1] if rows else {}
    status = {}
    for name, budget in budgets.items():
        searched = final.get("genotype_cost", {}).get(name)
        cost = repair["after"][name] if repair else searched
        status[name] = {"budget": budget.value, "unit": budget.unit, "text": budget.text, "final": cost,
                        "meets": cost is not None and cost <= budget.value, "searched": searched,
                        "meets_without_repair": searched is not None and searched <= budget.value,
                        "lambda": final.get("budgets", {}).get(name, {}).get("lambda")}
    return {"budgets": status, "repair": repair, "stage_ends": stage_ends}
