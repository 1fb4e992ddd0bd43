"""The stopwatch: the latency statistic, interleaved rounds and the noise floor, with scripted sessions.

A scripted runner stands in for ONNX Runtime sessions, so a slow phase of a shared machine (a
stretch of calls 30% slower), a session that lands on an idle core or a model that never settles
can be played back exactly.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy.stats import beta
from scipy.stats.mstats import hdquantiles

from rapdarts.ondevice.statistic import (
    Timing,
    block_medians,
    harrell_davis_quantile,
    interquartile_mean,
    latency_of,
    noise_floor,
    rounds_to_agree,
    scaled_sd,
)
from rapdarts.ondevice.timing import REFERENCE_COPIES, TimingSettings, time_models, time_with_floor

SETTINGS = TimingSettings(warmup=0, repeats=20, block=10, sessions=8, extra_sessions=4)


class Machine:
    """Sessions of ``base`` ms per model, with 1% run-to-run noise, slowed by ``slow`` during the calls in ``phase``."""

    def __init__(self, base: dict[bytes, float], phase: range = range(0), slow: float = 1.3, seed: int = 0):
        self.base = base
        self.phase = phase
        self.slow = slow
        self.calls = 0
        self.rng = np.random.default_rng(seed)

    def __call__(self, model, inputs, settings) -> list[float]:
        factor = self.slow if self.calls in self.phase else 1.0
        self.calls += 1
        noise = 1 + 0.01 * self.rng.standard_normal(settings.repeats)
        return list(self.base[model] * factor * noise)


def test_the_statistic_by_hand():
    """The Harrell-Davis 10th percentile of all block medians: Beta(q(n+1), (1-q)(n+1)) weights on the sorted blocks."""
    # two blocks: a = 0.3, b = 2.7, so the fastest block weighs I_0.5(0.3, 2.7), the slower one the rest
    weight = float(beta.cdf(0.5, 0.3, 2.7))
    assert latency_of([[1.0], [2.0]]) == pytest.approx(weight * 1.0 + (1 - weight) * 2.0)
    blocks = [[5.0, 9.0, 1.0], [7.0, 3.0], [100.0, 2.0, 4.0, 8.0, 6.0]]
    flat = [b for s in blocks for b in s]
    assert latency_of(blocks) == pytest.approx(float(hdquantiles(flat, [0.10])[0]), rel=1e-9)
    assert latency_of([[7.0]]) == 7.0 and latency_of([[4.0, 4.0], [4.0]]) == pytest.approx(4.0)
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert interquartile_mean([2.0, 4.0]) == 3.0 and interquartile_mean([7.0]) == 7.0
    assert block_medians([1, 2, 3, 10, 20, 30, 5], 3) == [2, 20]  # a last block shorter than half a block is dropped


def test_the_harrell_davis_quantile_matches_scipy_and_the_population_quantile():
    """Against scipy's implementation for the sizes a measurement has, and on a large sample of a known distribution
    (the exponential's 10th percentile is ln(10/9); 20,000 draws estimate it to about 2%)."""
    rng = np.random.default_rng(3)
    for n in (2, 5, 16, 20, 40, 120):
        values = list(5 + rng.gamma(2.0, 1.0, n))
        for q in (0.05, 0.10, 0.25, 0.5):
            assert harrell_davis_quantile(values, q) == pytest.approx(float(hdquantiles(values, [q])[0]), rel=1e-9)
    sample = rng.exponential(1.0, 20000)
    assert harrell_davis_quantile(list(sample), 0.10) == pytest.approx(float(np.quantile(sample, 0.10)), rel=0.01)
    assert harrell_davis_quantile(list(sample), 0.10) == pytest.approx(np.log(10 / 9), rel=0.08)


def test_the_harrell_davis_estimate_repeats_better_than_the_plain_percentile():
    """Why it replaced the interpolated percentile: on the same simulated measurements (20 blocks with right-skewed
    noise, as a shared machine gives), its independent estimates scatter less, and they estimate the same quantile."""
    rng = np.random.default_rng(4)
    draws = 10.0 * (1 + rng.gamma(1.5, 0.03, (4000, 20)))
    smooth = np.array([harrell_davis_quantile(list(row), 0.10) for row in draws])
    plain = np.quantile(draws, 0.10, axis=1)
    assert smooth.std() < 0.9 * plain.std()
    assert smooth.mean() == pytest.approx(plain.mean(), rel=0.005)


def test_slow_blocks_do_not_move_the_statistic_however_many_there_are():
    """A slow phase only adds time: up to 80% of the blocks 30% slower leave the 10th percentile where it was, where
    the median and the interquartile mean follow the slow phase once it covers half the blocks."""
    rng = np.random.default_rng(1)
    for slow_share in (0.0, 0.25, 0.5, 0.8):
        blocks = list(10.0 * (1 + 0.005 * rng.standard_normal(40)))
        slow = int(slow_share * len(blocks))
        blocks[:slow] = [b * 1.3 for b in blocks[:slow]]
        sessions = [blocks[i:i + 2] for i in range(0, 40, 2)]
        assert latency_of(sessions) == pytest.approx(10.0, rel=0.01), slow_share
        if slow_share >= 0.5:
            assert interquartile_mean(blocks) > 10.0 * 1.1  # what the previous statistic did


def test_a_slow_phase_does_not_move_the_latency_beyond_two_percent():
    """Two models, eight interleaved rounds; a stretch of three sessions in sixteen (a slow phase of a shared
    machine) runs 30% slower. The statistic ignores it: within 2% of the true 10 ms, where a plain mean of the
    sessions moves by 5%."""
    machine = Machine({b"a": 10.0, b"b": 4.0}, phase=range(6, 9))
    timings = time_models([("a", b"a", None), ("b", b"b", None)], SETTINGS, runner=machine)
    assert timings["a"].latency_ms == pytest.approx(10.0, rel=0.02)
    assert timings["b"].latency_ms == pytest.approx(4.0, rel=0.02)
    plain = statistics.fmean(m for t in (timings["a"],) for m in t.session_medians_ms)
    assert abs(plain / 10.0 - 1) > 0.03  # what the statistic saves us from


def test_rounds_are_interleaved_and_every_model_gets_its_sessions():
    order = []

    def runner(model, inputs, settings):
        order.append(model)
        return [1.0] * settings.repeats

    timings = time_models([(n, n, None) for n in ("a", "b", "c")], SETTINGS, runner=runner)
    assert [len(t.blocks_ms) for t in timings.values()] == [8, 8, 8]
    rounds = [order[i:i + 3] for i in range(0, 24, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # every round times every model once
    assert len({tuple(r) for r in rounds}) > 1  # in a new random order


def test_a_model_whose_halves_disagree_is_timed_more_and_flagged_if_it_stays_unsettled():
    calls = {"steady": 0, "drifting": 0}

    def runner(model, inputs, settings):
        calls[model] += 1
        level = 1.0 if model == "steady" else 1.0 + 0.05 * calls[model]  # slower every session, never settles
        return [level] * settings.repeats

    timings = time_models([("steady", "steady", None), ("drifting", "drifting", None)], SETTINGS, runner=runner)
    assert calls == {"steady": 8, "drifting": 12} and not timings["steady"].noisy and timings["drifting"].noisy


def test_the_noise_floor_comes_from_copies_of_the_reference_in_the_same_rounds():
    machine = Machine({b"net": 5.0, b"ref": 8.0}, seed=3)
    timings, floor = time_with_floor([("net", b"net", None), ("ref", b"ref", None)], "ref", SETTINGS, runner=machine)
    assert set(timings) == {"net", "ref"}  # the copies are not results
    assert machine.calls == 8 * (2 + REFERENCE_COPIES - 1)
    assert len(floor["estimates_ms"]) == 2 * REFERENCE_COPIES and floor["rounds_per_estimate"] == 4
    assert 0 < floor["sd"] < 0.01 and floor["worst_spread"] < 0.03  # 1% run noise, blocks of 10: well under 1%
    estimates = floor["estimates_ms"]
    assert floor["sd"] == pytest.approx(statistics.stdev(estimates) / statistics.fmean(estimates))
    assert scaled_sd(floor, 16) == pytest.approx(floor["sd"] / 2)  # four times the rounds: half the noise


def test_independent_estimates_are_disjoint_halves():
    timing = Timing([[1.0], [1.0], [2.0], [2.0]])
    assert timing.estimates(2) == [1.0, 2.0] and timing.split_difference == pytest.approx(1.0)
    assert noise_floor([1.0, 1.1], 4, "x")["worst_spread"] == pytest.approx(0.1 / 1.05)


def test_rounds_to_agree_is_what_makes_two_timings_agree_19_times_in_20():
    """A floor of sd 2% at 4 rounds: ±3% agreement in 95% of pairs needs sd 3% / (1.96 sqrt 2), i.e. 14 rounds; two
    simulated estimates of that many rounds (sd scaled by the square root) then agree about 95% of the time."""
    floor = {"sd": 0.02, "rounds_per_estimate": 4}
    assert rounds_to_agree(floor) == 14
    assert rounds_to_agree({"sd": 0.001, "rounds_per_estimate": 4}) == 1
    assert rounds_to_agree(floor, tolerance=0.06) == 4  # twice the tolerance: a quarter of the rounds
    sd = scaled_sd(floor, rounds_to_agree(floor))
    rng = np.random.default_rng(5)
    first, second = 10 * (1 + sd * rng.standard_normal((2, 20000)))
    assert np.mean(np.abs(second / first - 1) <= 0.03) == pytest.approx(0.95, abs=0.01)


def test_the_noise_floor_line_says_how_many_rounds_repeatable_figures_need():
    from rapdarts.cli.latency_commands import describe_floor

    floor = {"network": "the reference", "estimates_ms": [10.0, 10.4, 9.8, 10.1], "rounds_per_estimate": 4,
             "sd": 0.02, "worst_spread": 0.06}
    assert "agree within ±3% 19 times in 20 with about 14 rounds here (--sessions 14)" in describe_floor(floor)
    noisy = {**floor, "sd": 0.2}
    assert "too noisy" in describe_floor(noisy) and "more than 1000 rounds" in describe_floor(noisy)
