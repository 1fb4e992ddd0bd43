"""Budgets judged on a measurement: repair, measure the network, aim anew from what was measured, repeat.

A budget whose provider declares a :class:`~rapdarts.plugins.provider.Measurer` that can measure
here (latency, when its table was made on this machine) is not judged on the prediction: the
repaired network is measured, and when the measurement lands outside the window the repair aims
again, with the prediction rescaled by what was measured.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rapdarts.budget.repair import Band
from rapdarts.budget.values import Budget
from rapdarts.costs.target import TargetNetwork
from rapdarts.plugins.provider import Measurer
from rapdarts.space.genotype import Genotype

log = logging.getLogger("rapdarts")

MEASURED_BAND = (0.91, 0.95)
"""Where the repair aims a measured budget, as shares of the budget: inside [0.90, 1.00], nearer its low end,
since the same network times slower minutes later on a shared machine (and a network over the budget is the
failure that matters)."""
MEASURED_ACCEPT = (0.905, 0.955)
"""A measurement outside this window is repaired again: above it, the network could time over the budget
later; below it, capacity is left unused."""
MEASURED_CENTRE = sum(MEASURED_BAND) / 2
MEASURE_ATTEMPTS = 6
"""At most this many repaired architectures are measured; each costs one export and a few seconds of timing."""

Repaired = Callable[[Mapping[str, Band]], tuple[Genotype, list[dict[str, Any]]]]
"""``repaired(aims)``: the repair's genotype and moves when the measured budgets aim at ``aims``."""


class MeasuredBudgets:
    """The measured budgets of a search, and the repair loop that lands them in their window."""

    def __init__(self, budgets: Mapping[str, Budget], measurers: Mapping[str, Measurer]):
        self.budgets = dict(budgets)
        self.measurers = dict(measurers)

    def band(self, name: str) -> Band:
        """Where a measured cost should land before anything was measured."""
        value = self.budgets[name].value
        low, high = MEASURED_BAND
        return Band(low * value, high * value)

    def measure(self, genotype: Genotype, target: TargetNetwork) -> dict[str, float]:
        """The measured cost of ``genotype`` under every measured budget."""
        return {name: measurer.measure([("network", genotype)], target)["network"].value
                for name, measurer in self.measurers.items()}

    def aim(self, name: str, attempts: Sequence[Mapping[str, Any]]) -> Band:
        """Where the prediction of measured cost ``name`` should land so that the measurement lands in the band.

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

    def in_window(self, measured: Mapping[str, float]) -> bool:
        low, high = MEASURED_ACCEPT
        return all(low * self.budgets[n].value <= m <= high * self.budgets[n].value for n, m in measured.items())

    def repair(self, repaired: Repaired, costs_of: Callable[[Genotype], dict[str, float]], target: TargetNetwork
               ) -> tuple[Genotype, list[dict[str, Any]], dict[str, Any]]:
        """Repair, measure, aim anew (see :meth:`aim`), repeat, until every measured budget measures in
        :data:`MEASURED_ACCEPT` of its value (at most :data:`MEASURE_ATTEMPTS` times); then keep the attempt closest
        to the middle of the band among those measured under every budget. Returns the genotype, its moves and
        the record for ``budgets.json`` (``measured`` and every attempt).

        A measurement that lands in the window is confirmed by a second, independent one, and the attempt is judged
        on their mean (on the median of all its timings when the repair proposes an architecture timed before).
        Stopping at the first lucky timing would favour networks that timed fast by chance."""
        aims: dict[str, Band] = {}
        attempts = []
        timed: dict[str, list[dict[str, float]]] = {}  # every timing of each architecture, pooled when it comes back
        for _ in range(MEASURE_ATTEMPTS):
            genotype, moves = repaired(aims)
            predicted = costs_of(genotype)
            timings = timed.setdefault(json.dumps(genotype.to_dict(), sort_keys=True), [])
            timings.append(self.measure(genotype, target))
            if len(timings) == 1 and self.in_window(timings[0]):
                timings.append(self.measure(genotype, target))
            measured = {name: statistics.median(t[name] for t in timings) for name in self.measurers}
            attempts.append({"genotype": genotype.to_dict(), "predicted": predicted, "measured": measured,
                             "timings": list(timings), "moves": moves})
            log.info("budgets: measured %s", ", ".join(
                f"{name} {self.budgets[name].describe(value)} (predicted "
                f"{self.budgets[name].describe(predicted[name])}"
                f"{f', the median of {len(timings)} timings' if len(timings) > 1 else ''})"
                for name, value in measured.items()))
            if len(timings) > 1 and self.in_window(measured):
                break
            aims = {name: self.aim(name, attempts) for name in self.measurers}

        def rank(attempt: dict[str, Any]) -> tuple[bool, float]:  # under every budget first, then nearest the middle
            shares = [m / self.budgets[n].value for n, m in attempt["measured"].items()]
            return any(share > 1 for share in shares), max(abs(share - MEASURED_CENTRE) for share in shares)

        chosen = min(attempts, key=rank)
        if rank(chosen)[0]:
            log.warning("budgets: no architecture measured within every timed budget in %d attempts; the closest "
                        "is kept", len(attempts))
        record = {"measured": chosen["measured"], "attempts": attempts}
        return Genotype.from_dict(chosen["genotype"], "repaired genotype"), chosen["moves"], record
