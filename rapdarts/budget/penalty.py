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

import json
import logging
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from rapdarts.atomic import atomic_write_json
from rapdarts.budget.derived_cost import derived_expected_cost
from rapdarts.budget.floor import check_budgets
from rapdarts.budget.repair import Band, repair_genotype
from rapdarts.budget.summary import budget_summary
from rapdarts.budget.values import resolve_budgets
from rapdarts.costs.evaluate import CostEvaluator
from rapdarts.costs.penalty import CostPenalty
from rapdarts.costs.plugins import Providers
from rapdarts.costs.table import CostTable, ExpectedCost
from rapdarts.costs.target import Pricing, TargetNetwork
from rapdarts.data import DataShape
from rapdarts.formatting import format_number
from rapdarts.search.config import SearchConfig
from rapdarts.space.genotype import Genotype
from rapdarts.space.supernet import SearchNetwork

log = logging.getLogger("rapdarts")

TRAJECTORY_POINTS = 64
"""At most this many (lambda, cost) points per epoch go into metrics.jsonl."""
MEASURED_BAND = (0.91, 0.95)
"""Where the repair aims a measured budget (latency), as shares of the budget: inside [0.90, 1.00], nearer its
low end, since the same network times up to 5-9% slower minutes later on a shared machine (and a network
over the budget is the failure that matters)."""
MEASURED_ACCEPT = (0.905, 0.955)
"""A measurement outside this window is repaired again: above it, the network could time over the budget
later; below it, capacity is left unused."""
MEASURED_CENTRE = sum(MEASURED_BAND) / 2
MEASURE_ATTEMPTS = 6
"""At most this many repaired architectures are timed; each costs one export and a few seconds of timing."""

Timer = Callable[[Genotype, TargetNetwork], float]
"""``timer(genotype, target)``: the measured cost of the network (e.g. its ONNX Runtime latency in ms)."""


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

    def __init__(self, config: SearchConfig, providers: Providers, evaluator: CostEvaluator | None = None,
                 timers: Mapping[str, Timer] | None = None, timing_note: str = ""):
        """``timers`` measure budgeted costs on the final genotype (e.g. latency on this machine); budgets without
        one are judged on the prediction. ``timing_note`` says where measured figures come from, for the report."""
        self.config = config
        self.timers = {name: timer for name, timer in (timers or {}).items() if name in config.budgets}
        self.timing_note = timing_note
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
        """The last stage's genotype, moved into its budgets' bands (:mod:`rapdarts.budget.repair`) if needed.

        The repair may use any op of the search space, not only the last stage's candidates: pruning
        can leave an edge that must be kept (both edges of the first node are) with only
        convolutions, and the budget is checked against the floor of the whole space. Ops pruned
        earlier count as probability 0, so the repair prefers the ones the last stage kept. Budgets
        with a timer (latency, when the table was measured on this machine) are judged on the
        measured latency: see :meth:`_measured`.
        """
        before = self.costs_of(genotype)
        self.repair = {"before": before, "after": before, "moves": [], "genotype_before": genotype.to_dict()}
        if not self.config.budget_repair:
            if self.timers:
                self.repair["measured"] = self._time(genotype)
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

        def repaired(aims: Mapping[str, Band]) -> tuple[Genotype, list[dict[str, Any]]]:
            bands = {name: aims.get(name) or self._band(name) for name in self.budgets}
            return repair_genotype(genotype, space, probs, tables, bands, self.config.max_skip_connects)

        final, moves = self._measured(repaired) if self.timers else repaired({})
        self.repair.update({"after": self.costs_of(final), "moves": moves})
        if moves:
            changes = "; ".join(f"{m['cell']} cell: {m['from'][0]} on edge {m['from'][1]} -> {m['to'][0]} on edge "
                                f"{m['to'][1]}" for m in moves)
            log.info("budgets: the derived genotype (%s) moved into the budgets' bands by %d change(s): %s",
                     ", ".join(f"{n} {self.budgets[n].describe(before[n])}" for n in self.budgets), len(moves),
                     changes)
        return final

    def _band(self, name: str) -> Band:
        """Where cost ``name`` should land, in the provider's unit, before anything was measured."""
        value = self.budgets[name].value
        if name not in self.timers:
            return Band((1 - self.config.budget_band) * value, value)
        low, high = MEASURED_BAND
        return Band(low * value, high * value)

    def _aim(self, name: str, attempts: Sequence[Mapping[str, Any]]) -> Band:
        """Where the prediction of timed cost ``name`` should land so that the measurement lands in the band.

        Once two architectures timed so far bracket the band's middle, the aim is interpolated between the nearest
        pair and narrowed to half the band: measured/predicted differs by a few percent from one architecture to
        the next, so a single ratio applied to the whole band can leave the repair alternating between a network
        that measures under the window and one that measures over it. Until then, the band is divided by the
        median measured/predicted ratio of the architectures timed."""
        value = self.budgets[name].value
        pairs = [(a["predicted"][name], a["measured"][name]) for a in attempts]
        centre = MEASURED_CENTRE * value
        below = [pair for pair in pairs if pair[1] < centre]
        above = [pair for pair in pairs if pair[1] >= centre]
        if below and above:
            (p_low, m_low), (p_high, m_high) = max(below, key=lambda p: p[1]), min(above, key=lambda p: p[1])
            if p_high > p_low and m_high > m_low:
                aim = p_low + (centre - m_low) * (p_high - p_low) / (m_high - m_low)
                half = aim * (MEASURED_BAND[1] - MEASURED_BAND[0]) / MEASURED_CENTRE / 4
                return Band(aim - half, aim + half)
        ratio = statistics.median(measured / predicted for predicted, measured in pairs)
        low, high = MEASURED_BAND
        return Band(low * value / ratio, high * value / ratio)

    def _measured(self, repaired: Callable[[Mapping[str, Band]], tuple[Genotype, list[dict[str, Any]]]]
                  ) -> tuple[Genotype, list[dict[str, Any]]]:
        """Repair, time, aim the prediction anew from what was measured (see :meth:`_aim`), repeat, until every timed
        budget measures in :data:`MEASURED_ACCEPT` of its value (at most :data:`MEASURE_ATTEMPTS` times); then keep
        the attempt closest to the middle of the band among those measured under every budget.

        A measurement that lands in the window is confirmed by a second, independent one, and the attempt is judged
        on their mean (on the median of all its timings when the repair proposes an architecture timed before).
        Stopping at the first lucky timing would favour networks that timed fast by chance, and those time slower
        when measured again (the re-timings of the latency series ran a few percent above the figure the search
        had stopped on)."""
        aims: dict[str, Band] = {}
        attempts = []
        timed: dict[str, list[dict[str, float]]] = {}  # every timing of each architecture, pooled when it comes back
        for _ in range(MEASURE_ATTEMPTS):
            genotype, moves = repaired(aims)
            predicted = self.costs_of(genotype)
            timings = timed.setdefault(json.dumps(genotype.to_dict(), sort_keys=True), [])
            timings.append(self._time(genotype))
            if len(timings) == 1 and self._in_window(timings[0]):
                timings.append(self._time(genotype))
            measured = {name: statistics.median(t[name] for t in timings) for name in self.timers}
            attempts.append({"genotype": genotype.to_dict(), "predicted": predicted, "measured": measured,
                             "timings": list(timings), "moves": moves})
            log.info("budgets: measured %s", ", ".join(
                f"{name} {self.budgets[name].describe(value)} (predicted "
                f"{self.budgets[name].describe(predicted[name])}"
                f"{f', the median of {len(timings)} timings' if len(timings) > 1 else ''})"
                for name, value in measured.items()))
            if len(timings) > 1 and self._in_window(measured):
                break
            aims = {name: self._aim(name, attempts) for name in self.timers}

        def rank(attempt: dict[str, Any]) -> tuple[bool, float]:  # under every budget first, then nearest the middle
            shares = [m / self.budgets[n].value for n, m in attempt["measured"].items()]
            return any(share > 1 for share in shares), max(abs(share - MEASURED_CENTRE) for share in shares)

        chosen = min(attempts, key=rank)
        if rank(chosen)[0]:
            log.warning("budgets: no architecture measured within every timed budget in %d attempts; the closest "
                        "is kept", len(attempts))
        self.repair["measured"] = chosen["measured"]
        self.repair["attempts"] = attempts
        return Genotype.from_dict(chosen["genotype"], "repaired genotype"), chosen["moves"]

    def _time(self, genotype: Genotype) -> dict[str, float]:
        return {name: timer(genotype, self.target) for name, timer in self.timers.items()}

    def _in_window(self, measured: Mapping[str, float]) -> bool:
        low, high = MEASURED_ACCEPT
        return all(low * self.budgets[n].value <= m <= high * self.budgets[n].value for n, m in measured.items())

    def state_dict(self) -> dict[str, Any]:
        return {"multipliers": dict(self.multipliers), "repair": self.repair}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.multipliers.update({name: float(value) for name, value in state["multipliers"].items()})
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
            log.info("budget %s: final %s%s (%.1f%% of the budget %s, judged on the %s figure): %s", name,
                     budget.describe(entry["final"]), measured, 100 * entry["share_of_budget"], budget.describe(),
                     entry["judged_on"], "met" if entry["meets"] else "MISSED")
        if summary["timing"]:
            log.info("budgets: %s", summary["timing"])
        if self.budgets and metrics:
            plot_budgets(metrics, Path(run_dir) / "plots" / "budgets.png", summary["budgets"])
