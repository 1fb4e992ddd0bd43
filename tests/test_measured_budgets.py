"""Budgets judged on a measurement: the margin comes from the measured noise, no verdict rests on one timing.

A scripted measurer stands for the machine: it "measures" the parameter count of a network times a
factor (the machine runs networks slower than the table says), with a noise floor it reports, and
sometimes a lucky or unlucky timing. The budget is on parameters so every figure can be checked by
hand against the provider's own count.
"""

from __future__ import annotations

import json
import math
import statistics
from statistics import NormalDist

import pytest
import torch

from rapdarts.budget import BudgetPenalty
from rapdarts.budget.summary import budget_summary
from rapdarts.costs import genotype_costs
from rapdarts.data import DataShape
from rapdarts.plugins.manager import discover_providers
from rapdarts.plugins.provider import Measurement
from rapdarts.search.config import profile_config
from rapdarts.search.derive import derive_genotype
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import primitives

DIGITS = DataShape(10, 1, (8, 8))
EDGES = len(edge_sources())
FLOOR, CEILING = 1_368_190, 5_142_142
"""The cheapest and dearest derivable networks (digits, C=36, 20 cells)."""


class ScriptedMeasurer:
    """Measures ``factor(genotype) * parameters``, reporting ``noise``; ``luck`` scales the n-th call."""

    def __init__(self, factor=1.1, noise=0.01, luck=None):
        self.factor = factor if callable(factor) else (lambda genotype: factor)
        self.noise = noise
        self.luck = luck or {}
        self.calls = []
        self.params = discover_providers().get("params")

    def where(self) -> str:
        return "a scripted machine"

    def unavailable(self):
        return None

    def measure(self, networks, target):
        results = {}
        for name, genotype in networks:
            self.calls.append(genotype)
            value = self.factor(genotype) * genotype_costs(genotype, [self.params], target)["params"]
            results[name] = Measurement(value * self.luck.get(len(self.calls), 1.0), noise=self.noise)
        return results

    def truth(self, genotype, target) -> float:
        return self.factor(genotype) * genotype_costs(genotype, [self.params], target)["params"]


class _Probabilities:
    def __init__(self, probs):
        self.probs = probs

    def probabilities(self):
        return self.probs


def _derivation(seed: int):
    ops = primitives()
    candidates = {cell: tuple(ops for _ in range(EDGES)) for cell in ("normal", "reduce")}
    generator = torch.Generator().manual_seed(seed)
    probs = {cell: torch.softmax(torch.randn(EDGES, len(ops), generator=generator), -1) for cell in candidates}
    return candidates, probs, derive_genotype(candidates, probs)


def _end(budget: str, measurer: ScriptedMeasurer, seed: int = 4, **settings):
    """The final genotype of a search whose last stage derived the seed's random genotype, and its penalty."""
    config = profile_config("tiny").updated({"budgets": {"params": budget}, **settings})
    penalty = BudgetPenalty(config, discover_providers(), measurers={"params": measurer})
    penalty.prepare(DIGITS)
    candidates, probs, genotype = _derivation(seed)
    final = penalty.final_genotype(_Probabilities(probs), candidates, genotype)
    return final, penalty, genotype


def _chosen(penalty, final) -> dict:
    return next(a for a in penalty.repair["architectures"] if a["genotype"] == final.to_dict())


def test_a_network_measured_over_is_repaired_until_it_meets_the_budget_with_its_margin():
    measurer = ScriptedMeasurer(factor=1.1, noise=0.01)
    final, penalty, _ = _end("1.8M", measurer)
    verdict = penalty.repair["verdicts"]["params"]
    margin = NormalDist().inv_cdf(0.95) * 0.01 * math.sqrt(1 + 1 / verdict["calls"])  # z s sqrt(1 + 1/n)
    assert verdict["margin"] == pytest.approx(margin) and verdict["noise"] == pytest.approx(0.01)
    measured = measurer.truth(final, penalty.target)
    assert verdict["measured"] == pytest.approx(measured)
    assert 0.90 * 1.8e6 * (1 + margin) <= measured <= 1.8e6 / (1 + margin)  # the band, the margin inside both edges
    assert verdict["meets"] is True and verdict["in_window"] and _chosen(penalty, final)["calls"] >= 2
    status = budget_summary([], penalty.budgets, penalty.repair, penalty.timing_note)["budgets"]["params"]
    assert status["judged_on"] == "measured" and status["meets"] is True and status["verdict"] == "met"
    assert status["window"] == pytest.approx([0.90 * 1.8e6 * (1 + margin), 1.8e6 / (1 + margin)])


def test_a_noisier_machine_asks_for_a_wider_margin():
    quiet, quiet_penalty, _ = _end("1.8M", ScriptedMeasurer(factor=1.0, noise=0.005))
    noisy, noisy_penalty, _ = _end("1.8M", ScriptedMeasurer(factor=1.0, noise=0.03))
    quiet_verdict = quiet_penalty.repair["verdicts"]["params"]
    noisy_verdict = noisy_penalty.repair["verdicts"]["params"]
    assert noisy_verdict["margin"] > 4 * quiet_verdict["margin"]
    assert noisy_verdict["window"][1] < quiet_verdict["window"][1]  # the window's top edge moves down with the noise
    assert noisy_verdict["measured"] <= noisy_verdict["window"][1]


def test_a_lucky_first_timing_is_confirmed_before_it_counts():
    """The first network measures a few percent over the budget, its first timing 8% fast, inside the window.
    The confirming timing is honest; pooled, the network is over, so the loop repairs again instead of keeping it
    (and the two timings' disagreement widens the margin the final network is judged with)."""
    measurer = ScriptedMeasurer(factor=1.05, noise=0.01, luck={1: 0.92})
    final, penalty, _ = _end("1.8M", measurer)
    first = penalty.repair["architectures"][0]
    assert first["timings"]["params"][0] < 1.8e6 and first["calls"] >= 2
    assert first["measured"]["params"] > penalty.repair["verdicts"]["params"]["window"][1]
    assert final.to_dict() != first["genotype"]
    assert penalty.repair["verdicts"]["params"]["meets"] is True


def test_a_stale_timing_cannot_be_chosen():
    """An architecture timed again keeps every timing: the one it is judged on is their pooled value, so a first
    timing under the budget cannot carry an architecture whose other timings are over."""
    measurer = ScriptedMeasurer(factor=1.1, noise=0.01, luck={1: 0.85, 3: 0.85})
    final, penalty, _ = _end("1.8M", measurer)
    for architecture in penalty.repair["architectures"]:
        timings = architecture["timings"]["params"]
        assert architecture["calls"] == len(timings)
        assert architecture["measured"]["params"] == pytest.approx(statistics.median(timings))
    chosen = _chosen(penalty, final)
    assert chosen["measured"]["params"] <= penalty.repair["verdicts"]["params"]["window"][1]


def test_an_unconfirmed_timing_is_never_final():
    for luck in ({}, {1: 0.85}, {2: 1.2}):
        final, penalty, _ = _end("1.8M", ScriptedMeasurer(factor=1.1, noise=0.01, luck=luck))
        assert _chosen(penalty, final)["confirmed"] and _chosen(penalty, final)["calls"] >= 2


def test_a_budget_just_over_the_floor_ends_at_the_cheapest_architecture():
    """The machine runs 10% slower than predicted and the budget is 4% over the cheapest network's prediction:
    nothing meets it, so the cheapest architecture is kept, its verdict says missed, and few timings are spent."""
    measurer = ScriptedMeasurer(factor=1.1, noise=0.01)
    budget = 1.04 * FLOOR
    final, penalty, _ = _end(str(budget), measurer)
    assert genotype_costs(final, [measurer.params], penalty.target)["params"] == FLOOR
    verdict = penalty.repair["verdicts"]["params"]
    assert verdict["meets"] is False and verdict["measured"] == pytest.approx(1.1 * FLOOR)
    assert "cheapest architecture" in penalty.repair["note"]
    assert len(measurer.calls) <= 2 * penalty.config.budget_measure_attempts + 2


def test_a_budget_the_noise_cannot_decide_says_so():
    """Noise of 8% and a budget 5% over the cheapest network, measured as predicted: even the cheapest network is
    within the margin of the budget either way, so the verdict is undecided (null), with the reason."""
    measurer = ScriptedMeasurer(factor=1.0, noise=0.08)
    final, penalty, _ = _end(str(1.05 * FLOOR), measurer)
    verdict = penalty.repair["verdicts"]["params"]
    assert verdict["meets"] is None and verdict["verdict"].startswith("undecided")
    status = budget_summary([], penalty.budgets, penalty.repair, "")["budgets"]["params"]
    assert status["meets"] is None and "noise" in status["verdict"]
    json.dumps(status)  # budgets.json can hold it


def test_a_budget_at_the_ceiling_keeps_the_searched_genotype():
    measurer = ScriptedMeasurer(factor=1.0, noise=0.01)
    final, penalty, searched = _end(str(CEILING + 1000), measurer)
    assert final == searched and len(measurer.calls) == 2  # measured twice, for its verdict; nothing repaired
    assert penalty.repair["verdicts"]["params"]["meets"] is True and penalty.repair["moves"] == []


def test_a_computed_budget_at_the_ceiling_keeps_the_searched_genotype():
    config = profile_config("tiny").updated({"budgets": {"params": str(CEILING + 1000)}})
    penalty = BudgetPenalty(config, discover_providers())
    penalty.prepare(DIGITS)
    candidates, probs, genotype = _derivation(4)
    assert penalty.final_genotype(_Probabilities(probs), candidates, genotype) == genotype


def test_a_window_the_loop_cannot_land_in_ends_under_it_not_at_the_cheapest():
    """The machine runs 20% slower than predicted and the loop has one attempt: the repair's first network
    measures over the window, so one more network is aimed under the window's lower edge by the measured
    ratio. It meets the budget near its band and is kept (the cheapest network, 55% of it, would waste it)."""
    measurer = ScriptedMeasurer(factor=1.2, noise=0.01)
    final, penalty, _ = _end("2.5M", measurer, budget_measure_attempts=1)
    first = penalty.repair["architectures"][0]
    assert first["measured"]["params"] > 2.5e6
    verdict = penalty.repair["verdicts"]["params"]
    assert verdict["meets"] is True and not verdict["in_window"] and _chosen(penalty, final)["calls"] >= 2
    assert genotype_costs(final, [measurer.params], penalty.target)["params"] > FLOOR
    assert 0.8 * 2.5e6 <= verdict["measured"] <= verdict["window"][0]
    assert "nearest under" in penalty.repair["note"]
