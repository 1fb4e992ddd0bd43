"""Budgets judged on a measurement: repair, measure, aim anew, until a network measures under B with confidence.

A budget whose provider declares a :class:`~rapdarts.plugins.provider.Measurer` that can measure
here (latency, when its table was made on this machine) is judged on the measurement, and a
measurement is noisy: a shared machine times the same network a few percent apart minutes later.
So the verdict carries a margin derived from the noise the run measured, not a constant:

* every measurement comes with its noise floor (the relative sd ``s`` of one such measurement;
  the latency measurer times its table's reference network in the same rounds for it), and the
  floor of a budget is the largest of those and of the spread between repeated measurements of
  one architecture;
* an architecture measured ``n`` times is judged on the pooled measurement ``e``; an independent
  re-timing ``e'`` differs from it with sd ``s * sqrt(1 + 1/n)``, so with ``z`` the normal
  quantile of ``--budget-confidence`` the margin is ``m = z * s * sqrt(1 + 1/n)``;
* it **meets** B when ``e <= B / (1 + m)`` (an independent re-timing stays under B with that
  confidence), **misses** when ``e > B * (1 + m)``, and otherwise the machine is too noisy to tell:
  the verdict says so instead of ``meets``;
* the band ``[(1 - band) B, B]`` (``--budget-measured-band``) is aimed at with the margin inside
  both edges: ``[(1 - band) B (1 + m), B / (1 + m)]``; when the noise is too large for the band, the
  window is kept under ``B / (1 + m)`` and its lower edge is not assured (said so).

The loop repairs, measures, measures again a network that lands in the window (no verdict rests on
one timing), pools every measurement of an architecture the repair proposes again, aims the
prediction anew from what was measured, and stops at the first confirmed network in its window or
after ``--budget-measure-attempts``; it then keeps the confirmed network nearest the window. When
none meets the budget, one more network is aimed under the window by the largest measured/predicted
ratio seen (kept, and said so, when it meets), and only then the cheapest architecture of the space.
A budget the search space cannot reach (at or above the dearest architecture) keeps the searched
genotype and only confirms it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from rapdarts.budget.repair import Band
from rapdarts.budget.values import Budget
from rapdarts.costs.target import TargetNetwork
from rapdarts.plugins.provider import Measurement, Measurer, combined
from rapdarts.space.genotype import Genotype

log = logging.getLogger("rapdarts")

FLOOR = 0.002
"""The noise floor is never taken as smaller than this share: a measurer that reports no noise is not exact."""

Repaired = Callable[[Mapping[str, Band]], tuple[Genotype, list[dict[str, Any]]]]
"""``repaired(aims)``: the repair's genotype and moves when the measured budgets aim their predictions at ``aims``."""


@dataclass
class Architecture:
    """One architecture the loop measured: every measurement of it, per budget."""

    genotype: Genotype
    predicted: dict[str, float]
    moves: list[dict[str, Any]]
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return min((len(m) for m in self.measurements.values()), default=0)

    @property
    def confirmed(self) -> bool:
        """Measured at least twice: no verdict rests on a single timing."""
        return self.calls >= 2

    def key(self) -> str:
        return json.dumps(self.genotype.to_dict(), sort_keys=True)


class MeasuredBudgets:
    """The measured budgets of a search and the repair loop that lands them in their windows."""

    def __init__(self, budgets: Mapping[str, Budget], measurers: Mapping[str, Measurer], band: float = 0.10,
                 confidence: float = 0.95, attempts: int = 6):
        self.budgets = dict(budgets)
        self.measurers = dict(measurers)
        self.band_share = band
        self.confidence = confidence
        self.attempts = attempts
        self.z = NormalDist().inv_cdf(confidence)
        self._floors: dict[str, list[float]] = {name: [] for name in measurers}

    # ----------------------------------------------------------------- noise, margins and verdicts
    def noise(self, name: str, architectures: Sequence[Architecture] = ()) -> float:
        """The noise floor of budget ``name``: the largest noise any measurement reported, or the relative spread
        between repeated measurements of one architecture, whichever is larger (never below :data:`FLOOR`)."""
        repeats = []
        for architecture in architectures:
            values = [m.value for m in architecture.measurements.get(name, [])]
            if len(values) > 1:
                mean = sum(values) / len(values)
                repeats.append(math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) / mean)
        return max([FLOOR, *self._floors[name], *repeats])

    def margin(self, name: str, calls: int, architectures: Sequence[Architecture] = ()) -> float:
        """``z * s * sqrt(1 + 1/n)``: how much an independent re-timing may exceed a measurement pooled from ``n``."""
        return self.z * self.noise(name, architectures) * math.sqrt(1 + 1 / max(calls, 1))

    def window(self, name: str, calls: int, architectures: Sequence[Architecture] = ()) -> tuple[Band, bool]:
        """Where the measurement should land, and whether the band's lower edge is assured at this noise."""
        value = self.budgets[name].value
        m = self.margin(name, calls, architectures)
        upper = value / (1 + m)
        lower = (1 - self.band_share) * value * (1 + m)
        if lower <= upper:
            return Band(lower, upper), True
        return Band(upper - self.band_share * value / 2, upper), False

    def band(self, name: str) -> Band:
        """Where a measured cost should land before anything was measured (the prediction's first aim)."""
        return self.window(name, 2)[0]

    def verdict(self, name: str, architecture: Architecture, architectures: Sequence[Architecture]) -> dict[str, Any]:
        """Whether the architecture meets budget ``name``, judged on its pooled measurement and the margin."""
        value = self.budgets[name].value
        measured = combined(self.measurers[name], architecture.measurements[name])
        m = self.margin(name, architecture.calls, architectures)
        window, assured = self.window(name, architecture.calls, architectures)
        if measured.value <= value / (1 + m):
            meets, text = True, "met"
        elif measured.value > value * (1 + m):
            meets, text = False, "missed"
        else:
            meets, text = None, (f"undecided: measured {measured.value / value:.1%} of the budget, within the "
                                 f"{m:.1%} the machine's noise allows either way")
        return {"measured": measured.value, "meets": meets, "verdict": text, "noise": self.noise(name, architectures),
                "margin": m, "confidence": self.confidence, "window": [window.lower, window.upper],
                "band_assured": assured, "in_window": window.lower <= measured.value <= window.upper,
                "noisy": measured.noisy, "calls": architecture.calls}

    # ----------------------------------------------------------------- measuring
    def measure(self, architecture: Architecture, target: TargetNetwork) -> None:
        """Measure the architecture once more under every measured budget (a new, independent call)."""
        for name, measurer in self.measurers.items():
            result = measurer.measure([("network", architecture.genotype)], target)["network"]
            self._floors[name].append(result.noise)
            architecture.measurements.setdefault(name, []).append(result)

    def pooled(self, architecture: Architecture) -> dict[str, float]:
        return {name: combined(self.measurers[name], ms).value for name, ms in architecture.measurements.items()}

    def in_window(self, architecture: Architecture, architectures: Sequence[Architecture]) -> bool:
        pooled = self.pooled(architecture)
        return all(self.window(n, architecture.calls, architectures)[0].lower <= pooled[n]
                   <= self.window(n, architecture.calls, architectures)[0].upper for n in self.measurers)

    def meets(self, architecture: Architecture, architectures: Sequence[Architecture]) -> bool:
        return all(self.verdict(n, architecture, architectures)["meets"] is True for n in self.measurers)

    def aim(self, name: str, architectures: Sequence[Architecture]) -> Band:
        """Where the prediction of cost ``name`` should land so that the measurement lands in its window.

        Once two architectures measured so far bracket the window's middle, the aim is interpolated
        between the nearest pair and narrowed to half the window (measured/predicted differs from
        one architecture to the next, so one ratio can leave the repair alternating either side);
        until then, the window's lower half is divided by a measured/predicted ratio: the median one,
        or the largest one while every architecture measured so far is over the window (approaching
        from above with the median ratio walks down by a percent at a time when the ratio wanders).
        """
        window = self.window(name, 2, architectures)[0]
        centre = (window.lower + window.upper) / 2
        pairs = [(a.predicted[name], self.pooled(a)[name]) for a in architectures]
        below = [pair for pair in pairs if pair[1] < centre]
        above = [pair for pair in pairs if pair[1] >= centre]
        if below and above:
            (p_low, m_low), (p_high, m_high) = max(below, key=lambda p: p[1]), min(above, key=lambda p: p[1])
            if p_high > p_low and m_high > m_low:
                aim = p_low + (centre - m_low) * (p_high - p_low) / (m_high - m_low)
                half = aim * (window.upper - window.lower) / centre / 4
                return Band(aim - half, aim + half)
        ratio = self._ratio(name, architectures, dearest=all(m > window.upper for _, m in pairs))
        return Band(window.lower / ratio, centre / ratio)

    def _ratio(self, name: str, architectures: Sequence[Architecture], dearest: bool) -> float:
        """The median measured/predicted ratio of the architectures measured so far, or the largest one."""
        ratios = sorted(self.pooled(a)[name] / a.predicted[name] for a in architectures)
        if dearest:
            return ratios[-1]
        return ratios[len(ratios) // 2] if len(ratios) % 2 else sum(ratios[len(ratios) // 2 - 1:][:2]) / 2

    # ----------------------------------------------------------------- the loop
    def repair(self, repaired: Repaired, costs_of: Callable[[Genotype], dict[str, float]], target: TargetNetwork,
               searched: Genotype, reachable: Mapping[str, float]) -> tuple[Genotype, list[dict[str, Any]],
                                                                          dict[str, Any]]:
        """The final genotype, its moves and the record for ``budgets.json`` (see the module docstring).

        ``searched`` is the genotype the search derived; ``reachable`` the dearest predicted cost of each
        measured budget's search space (a budget at or above it cannot bind).
        """
        architectures: dict[str, Architecture] = {}
        attempts: list[dict[str, Any]] = []

        def visit(genotype: Genotype, moves: list[dict[str, Any]]) -> Architecture:
            architecture = Architecture(genotype, costs_of(genotype), moves)
            architecture = architectures.setdefault(architecture.key(), architecture)
            self.measure(architecture, target)
            if architecture.calls == 1 and self.in_window(architecture, list(architectures.values())):
                self.measure(architecture, target)  # confirmed by an independent measurement before any verdict
            attempts.append({"genotype": genotype.to_dict(), "predicted": architecture.predicted,
                             "measured": self.pooled(architecture), "calls": architecture.calls, "moves": moves})
            log.info("budgets: measured %s", ", ".join(
                f"{n} {self.budgets[n].describe(v)} (predicted {self.budgets[n].describe(architecture.predicted[n])}, "
                f"{architecture.calls} measurement(s))" for n, v in self.pooled(architecture).items()))
            return architecture

        if all(self.budgets[n].value >= reachable[n] for n in self.measurers):
            return self.confirm(searched, costs_of, target, "the budget is at or above the dearest architecture of "
                                "the search space: the searched genotype is kept")
        aims: dict[str, Band] = {}
        for _ in range(self.attempts):
            genotype, moves = repaired(aims)
            known = architectures.get(json.dumps(genotype.to_dict(), sort_keys=True))
            if known is not None and known.confirmed and attempts and attempts[-1]["genotype"] == genotype.to_dict():
                break  # the repair proposes the architecture it just confirmed: nothing new to learn
            architecture = visit(genotype, moves)
            if architecture.confirmed and self.in_window(architecture, list(architectures.values())):
                break
            aims = {name: self.aim(name, list(architectures.values())) for name in self.measurers}
        return self._choose(architectures, attempts, repaired, costs_of, target)

    def confirm(self, genotype: Genotype, costs_of: Callable[[Genotype], dict[str, float]], target: TargetNetwork,
                note: str) -> tuple[Genotype, list[dict[str, Any]], dict[str, Any]]:
        """Keep ``genotype``, measured twice for its verdict (no repair)."""
        architecture = Architecture(genotype, costs_of(genotype), [])
        while architecture.calls < 2:
            self.measure(architecture, target)
        attempts = [{"genotype": genotype.to_dict(), "predicted": architecture.predicted,
                     "measured": self.pooled(architecture), "calls": architecture.calls, "moves": []}]
        return self._ended(architecture, {architecture.key(): architecture}, attempts, note)

    def _choose(self, architectures: dict[str, Architecture], attempts: list[dict[str, Any]], repaired: Repaired,
                costs_of: Callable[[Genotype], dict[str, float]], target: TargetNetwork
                ) -> tuple[Genotype, list[dict[str, Any]], dict[str, Any]]:
        """The confirmed architecture that meets every budget, nearest its window; unconfirmed ones that would meet
        are confirmed first; with none, the cheapest architecture of the space."""
        for _ in range(2):
            everyone = list(architectures.values())
            hopeful = [a for a in everyone if not a.confirmed and all(
                self.pooled(a)[n] <= self.window(n, a.calls, everyone)[0].upper for n in self.measurers)]
            if not hopeful:
                break
            for architecture in hopeful:
                self.measure(architecture, target)
        everyone = list(architectures.values())
        meeting = [a for a in everyone if a.confirmed and self.meets(a, everyone)]
        if not meeting and everyone:
            meeting = self._below_the_window(architectures, attempts, repaired, costs_of, target)
        if meeting:
            best = min(meeting, key=lambda a: (not self.in_window(a, everyone), self._distance(a, everyone)))
            return self._ended(best, architectures, attempts, "" if self.in_window(best, everyone) else
                               "no architecture measured inside the window: the measurements did not follow the "
                               "predictions closely enough; the confirmed architecture nearest under it is kept")
        # An aim below every architecture makes the repair return the cheapest one of the space.
        unreachable = {name: Band(0.0, 1e-9 * self.budgets[name].value) for name in self.measurers}
        cheapest, moves = repaired(unreachable)
        fresh = Architecture(cheapest, costs_of(cheapest), moves)
        architecture = architectures.setdefault(fresh.key(), fresh)
        return self._fallback(architecture, architectures, attempts, target)

    def _below_the_window(self, architectures: dict[str, Architecture], attempts: list[dict[str, Any]],
                          repaired: Repaired, costs_of: Callable[[Genotype], dict[str, float]],
                          target: TargetNetwork) -> list[Architecture]:
        """One more architecture, aimed under the window's lower edge divided by the largest measured/predicted
        ratio seen, confirmed: when it meets every budget it is kept (a network near ``(1 - band) B`` serves the
        user better than the cheapest of the space)."""
        everyone = list(architectures.values())
        aims = {name: Band(0.0, self.window(name, 2, everyone)[0].lower / self._ratio(name, everyone, dearest=True))
                for name in self.measurers}
        genotype, moves = repaired(aims)
        architecture = Architecture(genotype, costs_of(genotype), moves)
        architecture = architectures.setdefault(architecture.key(), architecture)
        while architecture.calls < 2:
            self.measure(architecture, target)
        attempts.append({"genotype": genotype.to_dict(), "predicted": architecture.predicted,
                         "measured": self.pooled(architecture), "calls": architecture.calls, "moves": moves})
        everyone = list(architectures.values())
        return [architecture] if self.meets(architecture, everyone) else []

    def _fallback(self, architecture: Architecture, architectures: dict[str, Architecture],
                  attempts: list[dict[str, Any]], target: TargetNetwork) -> tuple[Genotype, list[dict[str, Any]],
                                                                                dict[str, Any]]:
        while architecture.calls < 2:
            self.measure(architecture, target)
        log.warning("budgets: no architecture measured under every measured budget with the stated confidence; the "
                    "cheapest architecture of the search space is kept")
        return self._ended(architecture, architectures, attempts, "no architecture measured under the budget with "
                           "the stated confidence: the cheapest architecture of the search space is kept")

    def _distance(self, architecture: Architecture, everyone: Sequence[Architecture]) -> float:
        pooled = self.pooled(architecture)
        distances = []
        for name in self.measurers:
            window = self.window(name, architecture.calls, everyone)[0]
            distances.append(abs(pooled[name] - (window.lower + window.upper) / 2) / self.budgets[name].value)
        return max(distances)

    def _ended(self, chosen: Architecture, architectures: dict[str, Architecture], attempts: list[dict[str, Any]],
               note: str) -> tuple[Genotype, list[dict[str, Any]], dict[str, Any]]:
        everyone = list(architectures.values())
        verdicts = {name: self.verdict(name, chosen, everyone) for name in self.measurers}
        record = {"measured": {name: v["measured"] for name, v in verdicts.items()}, "verdicts": verdicts,
                  "note": note or None, "attempts": attempts,
                  "architectures": [{"genotype": a.genotype.to_dict(), "predicted": a.predicted,
                                     "measured": self.pooled(a), "calls": a.calls, "confirmed": a.confirmed,
                                     "timings": {n: [m.value for m in ms] for n, ms in a.measurements.items()},
                                     "noisy": {n: any(m.noisy for m in ms) for n, ms in a.measurements.items()}}
                                    for a in everyone]}
        for name, verdict in verdicts.items():
            if verdict["meets"] is None:
                log.warning("budgets: %s is %s", name, verdict["verdict"])
            if verdict["noisy"]:
                log.warning("budgets: the measurements of %s did not settle (the machine was busy); the verdict "
                            "carries the margin of the noise measured", name)
        return chosen.genotype, chosen.moves, record
