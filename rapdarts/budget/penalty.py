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
the profile. ``C_m`` is the derivation-aware expected cost (:mod:`rapdarts.budget.derived_cost`), which
tracks the cost of the genotype derivation will keep, unlike the 14-edge expectation. The
multipliers carry over from one P-DARTS stage to the next and are part of the checkpoint. A final
genotype that still ends over a budget is repaired (:mod:`rapdarts.budget.repair`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from rapdarts.atomic import atomic_write_json
from rapdarts.budget.derived_cost import derived_expected_cost
from rapdarts.budget.floor import check_budgets
from rapdarts.budget.repair import repair_genotype
from rapdarts.budget.summary import budget_summary
from rapdarts.budget.values import resolve_budgets
from rapdarts.costs.evaluate import CostEvaluator
from rapdarts.costs.penalty import CostPenalty
from rapdarts.costs.plugins import Providers
from rapdarts.costs.table import CostTable, ExpectedCost
from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape
from rapdarts.formatting import format_number
from rapdarts.search.config import SearchConfig
from rapdarts.space.genotype import Genotype
from rapdarts.space.supernet import SearchNetwork

log = logging.getLogger("rapdarts")

TRAJECTORY_POINTS = 64
"""At most this many (lambda, cost) points per epoch go into metrics.jsonl."""


def dual_step(multiplier: float, cost: float, budget: float, step: float) -> float:
    """Projected dual ascent on ``cost / budget - 1 <= 0``: the new multiplier ``mu`` (>= 0)."""
    return max(0.0, multiplier + step * (cost / budget - 1.0))


class BudgetTerm:
    """A :class:`~rapdarts.extensions.LossTerm` ``lambda * C`` with ``C`` the derivation-aware expected cost."""

    def __init__(self, table: CostTable, candidates: Mapping[str, Sequence[Sequence[str]]], config: SearchConfig,
                 weight: float):
        self.table = table
        self.candidates = candidates
        self.config = config
        self.weight = weight
        self.name = table.provider.name

    def value(self, model: SearchNetwork) -> torch.Tensor:
        return derived_expected_cost(model.alphas(), self.table, self.candidates, self.config.budget_temperature,
                                     self.config.max_skip_connects)


class BudgetPenalty(CostPenalty):
    """Costs with fixed lambdas (``config.costs``) plus budgets whose lambdas adapt (``config.budgets``).

    Unknown cost names, unit mismatches and conflicts fail at construction; budgets below the
    search space's floor fail in :meth:`prepare`, before the search writes anything.
    """

    def __init__(self, config: SearchConfig, providers: Providers, evaluator: CostEvaluator | None = None):
        self.config = config
        self.budgets = resolve_budgets(config, providers)
        super().__init__(config.costs, providers, Pricing.from_settings(config.to_dict()), evaluator)
        self.providers = providers.select([*config.costs, *(n for n in self.budgets if n not in config.costs)])
        self.multipliers = {name: float(config.budget_init) for name in self.budgets}
        self.terms: dict[str, BudgetTerm] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        self._trajectory: dict[str, list[tuple[float, float]]] = {name: [] for name in self.budgets}
        self.repair: dict[str, Any] | None = None

    # ----------------------------------------------------------------- engine hooks
    def prepare(self, shape: DataShape) -> None:
        """Reject budgets below the floor of the search space (called before anything is written)."""
        super().prepare(shape)
        self.ranges = check_budgets(self.budgets, self.providers, self.config.primitives, self.config.max_skip_connects,
                                    self.target, self.evaluator)
        for name, budget in self.budgets.items():
            floor, ceiling = self.ranges[name]
            log.info("budget %s <= %s (search space: %s to %s)", name, budget.describe(), format_number(floor),
                     format_number(ceiling))

    def loss_terms(self, model: SearchNetwork, stage: int) -> list[Any]:
        self.candidates = model.candidates
        terms: list[Any] = []
        for table in self.build_tables(model, stage):
            name = table.provider.name
            if name in self.budgets:
                self.terms[name] = BudgetTerm(table, model.candidates, self.config,
                                              self.multipliers[name] / self.budgets[name].value)
                terms.append(self.terms[name])
            else:
                terms.append(ExpectedCost(table, self.weights[name]))
        return terms

    def after_alpha_step(self, model: SearchNetwork, parts: Mapping[str, torch.Tensor]) -> None:
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
            self._trajectory[name].append((term.weight, cost))

    def epoch_metrics(self, model: SearchNetwork, genotype: Genotype) -> dict[str, Any]:
        row = super().epoch_metrics(model, genotype)
        alphas = {cell: alpha.detach() for cell, alpha in model.alphas().items()}
        with torch.no_grad():
            predicted = {table.provider.name: float(derived_expected_cost(
                alphas, table, model.candidates, self.config.budget_temperature, self.config.max_skip_connects))
                for table in self.tables}
        row["predicted_cost"] = predicted
        budgets = {}
        for name, budget in self.budgets.items():
            trajectory = self._trajectory[name]
            stride = max(1, math.ceil(len(trajectory) / TRAJECTORY_POINTS))
            budgets[name] = {
                "budget": budget.value, "lambda": self.multipliers[name] / budget.value,
                "multiplier": self.multipliers[name], "predicted": predicted[name],
                "derived": row["genotype_cost"][name], "meets": row["genotype_cost"][name] <= budget.value,
                "step_lambda": [lam for lam, _ in trajectory[::stride]],
                "step_cost": [c for _, c in trajectory[::stride]],
            }
            self._trajectory[name] = []
            log.info("  budget %s: lambda %.4g, predicted %s, derived %s (budget %s)%s", name,
                     budgets[name]["lambda"], budget.describe(predicted[name]),
                     budget.describe(row["genotype_cost"][name]), budget.describe(),
                     "" if budgets[name]["meets"] else "  OVER")
        row["budgets"] = budgets
        return row

    def final_genotype(self, model: SearchNetwork, candidates: Mapping[str, Any], genotype: Genotype) -> Genotype:
        """The last stage's genotype, repaired (:mod:`rapdarts.budget.repair`) if it ends over a budget.

        The repair may use any op of the search space, not only the last stage's candidates: pruning
        can leave an edge that must be kept (both edges of the first node are) with only
        convolutions, and the budget is checked against the floor of the whole space. Ops pruned
        earlier count as probability 0, so the repair prefers the ones the last stage kept.
        """
        limits = {name: budget.value for name, budget in self.budgets.items()}
        before = self.costs_of(genotype)
        if all(before[name] <= limit for name, limit in limits.items()) or not self.config.budget_repair:
            return genotype
        names = tuple(self.config.primitives)
        space = {cell: tuple(names for _ in edges) for cell, edges in candidates.items()}
        tables = {p.name: CostTable.build(p, self.target, space, self.evaluator) for p in self.providers
                  if p.name in self.budgets}
        probs = {}
        for cell, stage_probs in model.probabilities().items():
            probs[cell] = torch.zeros(len(candidates[cell]), len(names), dtype=torch.float64)
            for edge, ops in enumerate(candidates[cell]):
                for position, op in enumerate(ops):
                    probs[cell][edge, names.index(op)] = float(stage_probs[edge, position])
        repaired, moves = repair_genotype(genotype, space, probs, tables, limits, self.config.max_skip_connects)
        after = self.costs_of(repaired)
        self.repair = {"before": before, "after": after, "moves": moves, "genotype_before": genotype.to_dict()}
        over = ", ".join(f"{name} {format_number(before[name])} > {format_number(limit)}"
                         for name, limit in limits.items() if before[name] > limit)
        changes = "; ".join(f"{m['cell']} cell: {m['from'][0]} on edge {m['from'][1]} -> {m['to'][0]} on edge "
                            f"{m['to'][1]}" for m in moves)
        log.warning("the search ended over budget (%s); repaired by %d op change(s): %s", over, len(moves), changes)
        return repaired

    def state_dict(self) -> dict[str, Any]:
        return {"multipliers": dict(self.multipliers), "repair": self.repair}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.multipliers.update({name: float(value) for name, value in state["multipliers"].items()})
        self.repair = state.get("repair")

    def finish(self, run_dir: Path, metrics: Sequence[Mapping[str, Any]]) -> None:
        """Write ``budgets.json`` (stage-end predictions vs actual costs) and ``plots/budgets.png``."""
        from rapdarts.budget.plots import plot_budgets

        summary = budget_summary(metrics, self.budgets, self.repair)
        atomic_write_json(Path(run_dir) / "budgets.json", summary)
        for row in summary["stage_ends"]:
            for name, entry in row["costs"].items():
                log.info("stage %d end, %s: derived %s; predicted %s (error %+.1f%%), 14-edge expectation %s "
                         "(error %+.1f%%)", row["stage"], name, format_number(entry["derived"]),
                         format_number(entry["predicted"]), 100 * entry["predicted_error"],
                         format_number(entry["expected"]), 100 * entry["expected_error"])
        if self.budgets and metrics:
            plot_budgets(metrics, Path(run_dir) / "plots" / "budgets.png")
