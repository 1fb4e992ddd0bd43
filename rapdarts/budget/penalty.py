"""Budget-targeted search: ``--budget params=3M`` met in one search, as one search extension made of parts.

Each part has one job (as NNI separates profiler, penalty and filter):

* :class:`~rapdarts.costs.stage_costs.StageCosts` prices the ops of each stage (costs with fixed
  lambdas and budgeted costs alike);
* :class:`~rapdarts.budget.dual.DualAscent` adapts each budget's lambda after every alpha step,
  on the derivation-aware expected cost (:mod:`rapdarts.budget.derived_cost`), which tracks the
  cost of the genotype derivation will keep, unlike the 14-edge expectation;
* the repair (:mod:`rapdarts.budget.repair`) moves a final genotype that ends outside a budget's
  band into it, and :class:`~rapdarts.budget.measured.MeasuredBudgets` does so on measurements
  for budgets whose provider can measure networks here;
* :func:`~rapdarts.budget.summary.budget_summary` and :mod:`rapdarts.budget.plots` report.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from rapdarts.budget.derived_cost import derived_expected_cost
from rapdarts.budget.dual import DualAscent
from rapdarts.budget.floor import check_budgets
from rapdarts.budget.measured import MeasuredBudgets
from rapdarts.budget.repair import Band, repair_genotype
from rapdarts.budget.summary import budget_summary
from rapdarts.budget.values import resolve_budgets
from rapdarts.costs.cache import CostCache
from rapdarts.costs.stage_costs import StageCosts
from rapdarts.costs.table import CostTable, ExpectedCost
from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape
from rapdarts.formatting import format_number
from rapdarts.plugins.extensions import SearchExtension
from rapdarts.plugins.manager import Providers
from rapdarts.plugins.provider import Measurer
from rapdarts.search.config import SearchConfig
from rapdarts.space.genotype import Genotype
from rapdarts.space.supernet import SearchNetwork
from rapdarts.storage.atomic import atomic_write_json

log = logging.getLogger("rapdarts")


class BudgetTerm:
    """A :class:`~rapdarts.plugins.extensions.LossTerm` ``lambda * C`` with ``C`` the derivation-aware expected cost."""

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


def measured_budgets(config: SearchConfig, providers: Providers) -> tuple[dict[str, Measurer], list[str]]:
    """The measurers of the budgets that are judged on a measurement, and a note per budget on where its verdict
    comes from (a measurer that cannot measure here leaves its budget judged on the prediction)."""
    measurers, notes = {}, []
    for name in config.budgets:
        measurer = providers.get(name).measurer
        if measurer is None or not config.budget_measure:
            continue
        reason = measurer.unavailable()
        if reason is None:
            measurers[name] = measurer
            notes.append(f"{name}: {measurer.where()}")
        else:
            notes.append(f"{name}: {reason}")
    return measurers, notes


class BudgetPenalty(SearchExtension):
    """Costs with fixed lambdas (``config.costs``) plus budgets whose lambdas adapt (``config.budgets``).

    Unknown cost names, unit mismatches and conflicts fail at construction; budgets below the
    search space's floor fail in :meth:`prepare`, before the search writes anything. ``measurers``
    (by budget name) replace the ones the providers declare (tests pass scripted ones).
    """

    def __init__(self, config: SearchConfig, providers: Providers, cache: CostCache | None = None,
                 measurers: Mapping[str, Measurer] | None = None):
        self.config = config
        self.budgets = resolve_budgets(config, providers)
        if measurers is None:
            measurers, notes = measured_budgets(config, providers)
        else:
            notes = [f"{name}: {measurer.where()}" for name, measurer in measurers.items()]
        self.timing_note = "; ".join(notes)
        self.measured = MeasuredBudgets(self.budgets, {n: m for n, m in measurers.items() if n in self.budgets},
                                        config.budget_measured_band, config.budget_confidence,
                                        config.budget_measure_attempts)
        self.weights = dict(config.costs)
        self.costs = StageCosts(providers.select([*config.costs, *(n for n in self.budgets if n not in config.costs)]),
                                Pricing.from_settings(config.to_dict()), cache)
        self.dual = DualAscent({name: budget.value for name, budget in self.budgets.items()}, config.budget_step,
                               config.budget_init)
        self.terms: dict[str, BudgetTerm] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        self.repair: dict[str, Any] | None = None

    @property
    def multipliers(self) -> dict[str, float]:
        return self.dual.multipliers

    @property
    def target(self):  # noqa: ANN201 - the TargetNetwork costs are priced in
        return self.costs.target

    # ----------------------------------------------------------------- engine hooks
    def prepare(self, shape: DataShape) -> None:
        """Price the space and reject budgets below its floor (called before anything is written)."""
        self.costs.prepare(shape)
        self.ranges = check_budgets(self.budgets, self.costs.providers, self.config.primitives,
                                    self.config.max_skip_connects, self.costs.target, self.costs.cache)
        for name, budget in self.budgets.items():
            floor, ceiling = self.ranges[name]
            log.info("budget %s <= %s (search space: %s to %s)", name, budget.describe(), format_number(floor),
                     format_number(ceiling))

    def loss_terms(self, model: SearchNetwork, stage: int) -> list[Any]:
        terms: list[Any] = []
        for table in self.costs.build(model, stage):
            name = table.provider.name
            if name in self.budgets:
                self.terms[name] = BudgetTerm(table, model.candidates, self.config, self.dual.weight(name))
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
            term.weight = self.dual.step(name, cost)

    def epoch_metrics(self, model: SearchNetwork, genotype: Genotype) -> dict[str, Any]:
        row = self.costs.metrics(model, genotype)
        alphas = {cell: alpha.detach() for cell, alpha in model.alphas().items()}
        with torch.no_grad():
            predicted = {table.provider.name: float(derived_expected_cost(
                alphas, table, model.candidates, self.config.budget_temperature, self.config.max_skip_connects))
                for table in self.costs.tables}
        row["predicted_cost"] = predicted
        budgets = {}
        for name, budget in self.budgets.items():
            derived = row["genotype_cost"][name]
            budgets[name] = {"budget": budget.value, "lambda": self.dual.weight(name),
                             "multiplier": self.dual.multipliers[name], "predicted": predicted[name],
                             "derived": derived, "meets": derived <= budget.value,
                             **self.dual.epoch_trajectory(name)}
            log.info("  budget %s: lambda %.4g, predicted %s, derived %s (budget %s)%s", name,
                     budgets[name]["lambda"], budget.describe(predicted[name]), budget.describe(derived),
                     budget.describe(), "" if budgets[name]["meets"] else "  OVER")
        row["budgets"] = budgets
        return row

    def final_genotype(self, model: SearchNetwork, candidates: Mapping[str, Any], genotype: Genotype) -> Genotype:
        """The last stage's genotype, moved into its budgets' bands (:mod:`rapdarts.budget.repair`) if needed.

        The repair may use any op of the search space, not only the last stage's candidates: pruning
        can leave an edge that must be kept (both edges of the first node are) with only
        convolutions, and the budget is checked against the floor of the whole space. Ops pruned
        earlier count as probability 0, so the repair prefers the ones the last stage kept. Budgets
        with a measurer are judged on the measurement (:class:`~rapdarts.budget.measured.MeasuredBudgets`).
        """
        before = self.costs.of(genotype)
        self.repair = {"before": before, "after": before, "moves": [], "genotype_before": genotype.to_dict()}
        measured = self.measured.measurers
        if not self.config.budget_repair:
            if measured:
                _, _, record = self.measured.confirm(genotype, self.costs.of, self.costs.target, "no repair asked for")
                self.repair.update(record)
            return genotype
        names = tuple(self.config.primitives)
        space = {cell: tuple(names for _ in edges) for cell, edges in candidates.items()}
        tables = {p.name: CostTable.build(p, self.costs.target, space, self.costs.cache) for p in self.costs.providers
                  if p.name in self.budgets}
        probs = {}
        for cell, stage_probs in model.probabilities().items():
            probs[cell] = torch.zeros(len(candidates[cell]), len(names), dtype=torch.float64)
            for edge, ops in enumerate(candidates[cell]):
                for position, op in enumerate(ops):
                    probs[cell][edge, names.index(op)] = float(stage_probs[edge, position])

        def repaired(aims: Mapping[str, Band]) -> tuple[Genotype, list[dict[str, Any]]]:
            bands = {name: aims.get(name) or self._band(name) for name in self.budgets}
            return repair_genotype(genotype, space, probs, tables, bands, self.config.max_skip_connects)

        if measured:
            ceilings = {name: self.ranges[name][1] for name in measured}
            final, moves, record = self.measured.repair(repaired, self.costs.of, self.costs.target, genotype, ceilings)
            self.repair.update(record)
        else:
            final, moves = repaired({})
        self.repair.update({"after": self.costs.of(final), "moves": moves})
        if moves:
            changes = "; ".join(f"{m['cell']} cell: {m['from'][0]} on edge {m['from'][1]} -> {m['to'][0]} on edge "
                                f"{m['to'][1]}" for m in moves)
            log.info("budgets: the derived genotype (%s) moved into the budgets' bands by %d change(s): %s",
                     ", ".join(f"{n} {self.budgets[n].describe(before[n])}" for n in self.budgets), len(moves),
                     changes)
        return final

    def _band(self, name: str) -> Band:
        """Where cost ``name`` should land, in the provider's unit, before anything was measured. A budget at or above
        the dearest architecture cannot bind and has no lower edge: the searched genotype is not traded for the
        dearest one."""
        value = self.budgets[name].value
        band = self.measured.band(name) if name in self.measured.measurers else \
            Band((1 - self.config.budget_band) * value, value)
        ceiling = self.ranges.get(name, (0.0, math.inf))[1]
        return Band(0.0, band.upper) if ceiling <= value else band

    def state_dict(self) -> dict[str, Any]:
        return {"multipliers": self.dual.state_dict(), "repair": self.repair}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.dual.load_state_dict(state["multipliers"])
        self.repair = state.get("repair")

    def finish(self, run_dir: Path, metrics: Sequence[Mapping[str, Any]]) -> None:
        """Write ``budgets.json`` (stage-end predictions vs actual costs) and ``plots/budgets.png``."""
        from rapdarts.budget.plots import plot_budgets

        summary = budget_summary(metrics, self.budgets, self.repair, self.timing_note)
        atomic_write_json(Path(run_dir) / "budgets.json", summary)
        for row in summary["stage_ends"]:
            for name, entry in row["costs"].items():
                log.info("stage %d end, %s: derived %s; predicted %s (error %+.1f%%), 14-edge expectation %s "
                         "(error %+.1f%%)", row["stage"], name, format_number(entry["derived"]),
                         format_number(entry["predicted"]), 100 * entry["predicted_error"],
                         format_number(entry["expected"]), 100 * entry["expected_error"])
        for name, entry in summary["budgets"].items():
            budget = self.budgets[name]
            measured = f", measured {budget.describe(entry['measured'])}" if entry["measured"] is not None else ""
            outcome = entry.get("verdict") or ("met" if entry["meets"] else "missed")
            margin = (f", margin {entry['margin']:.1%} at {entry['confidence']:.0%} confidence" if "margin" in entry
                      else "")
            log.info("budget %s: final %s%s (%.1f%% of the budget %s, judged on the %s figure%s): %s", name,
                     budget.describe(entry["final"]), measured, 100 * entry["share_of_budget"], budget.describe(),
                     entry["judged_on"], margin, outcome if entry["meets"] is not False else outcome.upper())
        if summary["timing"]:
            log.info("budgets: %s", summary["timing"])
        if self.budgets and metrics:
            plot_budgets(metrics, Path(run_dir) / "plots" / "budgets.png", summary["budgets"])
