"""The latency statistic and the noise floor: what one timing of a model reports, and how repeatable it is.

A model is timed in several fresh ONNX Runtime sessions (interleaved with the other models, see
:mod:`.timing`); each session's timed runs are cut into short *blocks* and a block is summarised
by its median. The latency of the model is the **10th percentile of all its block medians**, in
the Harrell-Davis estimate (:func:`harrell_davis_quantile`): a low quantile of what the model
achieved when the machine was not busy elsewhere, not the minimum.

Why this statistic: ``benchmarks/stopwatch.py`` times the same networks in many interleaved rounds
and compares candidate statistics on independent estimates (disjoint, consecutive sets of rounds).
Noise on a shared machine is one-sided: a slow phase (a neighbour's burst, a throttled core) only
ever adds time, for seconds to a minute, and it can cover half the rounds, so every central
statistic (median, mean, interquartile mean of sessions or blocks) moves with it. The fast side of
the distribution is what repeats: with slow phases beside the timing, 80% of independent estimates
of the 10th percentile agreed within 3% against 20% for the interquartile mean and 16-24% for
medians; on a quiet machine all of them tie (72-76%). The minimum (timeit's choice) is the one
low statistic that loses when quiet (40%): a single lucky block decides it; the 10th percentile
needs about a tenth of the blocks to be fast. Of a measurement's 16-40 blocks the plain 10th
percentile is the second- or third-fastest (an interpolation of two), so it jumps with whichever
block that was; the Harrell-Davis estimate of the same quantile weights all blocks, mostly the
fastest few, and its independent estimates had a 1-17% smaller standard deviation than the plain
percentile's in all fifteen comparisons made on 2026-12-04 (five sets of raw timings, each cut into
estimates of 5, 10 and 20 rounds), for the same quantity. The minimum of single runs repeated
better still on that very noisy host, but not on a quiet one, and what it estimates falls with
the number of runs timed, so a table entry and a budget check timed with different numbers of
sessions would not be comparable; a quantile is the same quantity however many blocks it has. The
figures and their dates are in ``benchmarks/RESULTS.md``.
The same function is used everywhere: tables, validation, ``cost --measure``, the training report,
budgets and the surrogate's sample.

The *noise floor* is how far apart independent estimates of the same network came out: a reference
network is timed in the same rounds as everything else, and its estimates from disjoint sets of
rounds (copies, halves, separate calls) give a relative standard deviation and a worst spread. A
prediction is judged against it, and a budget's margin is derived from it.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def block_medians(times: Sequence[float], block: int) -> list[float]:
    """Medians of consecutive blocks of ``block`` runs; a shorter last block counts if it has half a block."""
    medians = []
    for start in range(0, len(times), block):
        part = times[start:start + block]
        if len(part) * 2 >= block or not medians:
            medians.append(statistics.median(part))
    return medians


def interquartile_mean(values: Sequence[float]) -> float:
    """The mean of the middle half of ``values`` (all of them when there are fewer than four).

    The statistic before issue 18's measurements under slow phases; kept for comparisons
    (``benchmarks/stopwatch.py``)."""
    ordered = sorted(values)
    n = len(ordered)
    low, high = n // 4, n - n // 4
    return statistics.fmean(ordered[low:high])


STATISTIC = "hd_p10_of_block_medians"
"""The name recorded with every table and measurement, so numbers made with another statistic are told apart."""
STATISTIC_QUANTILE = 0.10


def latency_of(sessions: Sequence[Sequence[float]]) -> float:
    """The latency statistic of a model from its sessions' block medians (ms): the Harrell-Davis estimate of their
    10th percentile."""
    return harrell_davis_quantile([b for session in sessions for b in session], STATISTIC_QUANTILE)


def relative_sd(values: Sequence[float]) -> float:
    """Standard deviation over mean (0 for fewer than two values)."""
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def relative_range(values: Sequence[float]) -> float:
    """``(max - min) / median``: how far apart repeated measurements of one thing are."""
    if len(values) < 2:
        return 0.0
    return (max(values) - min(values)) / statistics.median(values)


def spread(values: Sequence[float]) -> float:
    """:func:`relative_range` (the name tables and reports use)."""
    return relative_range(values)


@dataclass
class Timing:
    """One model timed in several sessions: the latency statistic and what it was computed from (ms)."""

    blocks_ms: list[list[float]] = field(default_factory=list)
    """Per session, in the order they ran: its block medians."""
    noisy: bool = False

    @property
    def latency_ms(self) -> float:
        """The latency statistic (:func:`latency_of`): the number every command uses."""
        return latency_of(self.blocks_ms)

    @property
    def session_medians_ms(self) -> list[float]:
        return [statistics.median(blocks) for blocks in self.blocks_ms]

    @property
    def median_ms(self) -> float:
        """The median of the session medians (recorded for comparison; the latency statistic is :attr:`latency_ms`)."""
        return statistics.median(self.session_medians_ms)

    @property
    def spread(self) -> float:
        """Relative range of the session medians."""
        return relative_range(self.session_medians_ms)

    def estimates(self, parts: int = 2) -> list[float]:
        """Independent estimates of the latency from ``parts`` consecutive, disjoint sets of its sessions."""
        count = len(self.blocks_ms)
        if count < parts:
            return [self.latency_ms]
        bounds = [round(i * count / parts) for i in range(parts + 1)]
        return [latency_of(self.blocks_ms[a:b]) for a, b in zip(bounds, bounds[1:])]

    @property
    def split_difference(self) -> float:
        """How far the estimates from the first and the second half of the sessions are apart (relative)."""
        first, *rest = self.estimates(2)
        return abs(rest[0] / first - 1.0) if rest else 0.0

    def to_dict(self) -> dict[str, Any]:
        blocks = [b for session in self.blocks_ms for b in session]
        ordered = sorted(blocks)
        return {"latency_ms": self.latency_ms, "median_ms": self.median_ms,
                "p10_ms": _quantile(ordered, 0.10), "p90_ms": _quantile(ordered, 0.90),
                "blocks_ms": self.blocks_ms, "sessions": len(self.blocks_ms), "spread": self.spread,
                "split_difference": self.split_difference, "noisy": self.noisy}


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default), without numpy."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def harrell_davis_quantile(values: Sequence[float], q: float) -> float:
    """The Harrell-Davis estimate of the ``q`` quantile: a weighted mean of *all* order statistics.

    Weight ``i`` of ``n`` sorted values is the probability that a Beta(``q(n+1)``, ``(1-q)(n+1)``) variable
    falls in ``((i-1)/n, i/n]`` (Harrell and Davis, Biometrika 1982). A single order statistic (or the
    interpolation of two) jumps with whichever block happened to be second-fastest; spreading the weight
    over the neighbouring ones keeps the estimate on the fast side of the distribution with a smaller
    variance, which is what repeatability asks of a low quantile of a few dozen blocks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    return math.fsum(value * weight for value, weight in zip(ordered, _harrell_davis_weights(len(ordered), q)))


@functools.lru_cache(maxsize=256)
def _harrell_davis_weights(n: int, q: float) -> tuple[float, ...]:
    """The weights of ``n`` sorted values; they depend on ``n`` and ``q`` only, so every timing of a profile with
    the same number of blocks shares one computation. Trailing weights below 1e-15 are left out."""
    a, b = q * (n + 1), (1 - q) * (n + 1)
    weights, below = [], 0.0
    for i in range(1, n + 1):
        upto = _regularized_beta(i / n, a, b)
        weights.append(upto - below)
        below = upto
        if upto > 1.0 - 1e-15:  # the slower values' weights are nil (a low quantile of many blocks: most of them)
            break
    return tuple(weights)


def _regularized_beta(x: float, a: float, b: float) -> float:
    """``I_x(a, b)``, the Beta(a, b) distribution function, from its continued fraction (DLMF 8.17.22)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below the mean; use the symmetry
        return 1.0 - _regularized_beta(1.0 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    fraction, c, d = 1.0, 1.0, 0.0  # modified Lentz evaluation of 1 / (1 + d1 / (1 + d2 / ...))
    for i in range(400):
        m = i // 2
        if i == 0:
            term = 1.0
        elif i % 2 == 0:
            term = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            term = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 + term * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + term / c
        c = c if abs(c) > tiny else tiny
        fraction *= c * d
        if abs(c * d - 1.0) < 1e-14:
            break
    return front * (fraction - 1.0)


def noise_floor(estimates: Sequence[float], rounds_per_estimate: float, what: str) -> dict[str, Any]:
    """The repeatability achieved: independent estimates of the same network, their relative sd and worst spread.

    ``sd`` is the relative standard deviation of one estimate made of ``rounds_per_estimate`` rounds.
    """
    return {"network": what, "estimates_ms": list(estimates), "rounds_per_estimate": rounds_per_estimate,
            "sd": relative_sd(estimates), "worst_spread": relative_range(estimates)}


def scaled_sd(floor: dict[str, Any], rounds: float) -> float:
    """The floor's relative sd for an estimate of ``rounds`` rounds (noise falls with the square root of the
    rounds; a floor measured on slow phases longer than the estimates may still understate it)."""
    return floor["sd"] * math.sqrt(floor["rounds_per_estimate"] / max(rounds, 1e-9))


def rounds_to_agree(floor: dict[str, Any], tolerance: float = 0.03, share: float = 0.95) -> int:
    """Rounds a measurement needs on this machine for two independent ones to agree within ``±tolerance`` in
    ``share`` of cases, from the floor's relative sd (at least 1).

    Two estimates with relative sd ``s`` differ with sd ``s * sqrt(2)``; agreement in ``share`` of cases needs
    ``z * s * sqrt(2) <= tolerance`` (``z`` the two-sided normal quantile), and ``s`` falls with the square root
    of the rounds (:func:`scaled_sd`). Slow phases longer than a measurement make this an underestimate, so it
    is the least a user should time, not a promise."""
    z = statistics.NormalDist().inv_cdf(0.5 + share / 2)
    allowed_sd = tolerance / (z * math.sqrt(2))
    return max(1, math.ceil(floor["rounds_per_estimate"] * (floor["sd"] / allowed_sd) ** 2))
