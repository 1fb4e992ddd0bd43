"""From op timings to whole-network latency: the per-group calibration and how to judge it (numpy only).

An op timed alone is not an op inside a network: alone, it pays the per-run costs of a session
(input and output copies, layout changes ONNX Runtime makes at graph boundaries, waking intra-op
threads) and runs with its weights and input hot in cache; inside a network, neighbouring ops share
layouts and threads, but the network's weights no longer fit in cache. Which effect wins depends
on the machine and on the network's size (``benchmarks/RESULTS.md`` has the figures measured for this
project), so it has to be measured on the machine the table is for.

So the table is calibrated on whole networks of the target it was profiled for, measured in the
same session: each network's latency is modelled as ``sum_g scale_g * T_g``, where ``T_g`` is the
table time of the network's ops of group ``g`` (an op type: ``sep_conv_3x3``, ``max_pool_3x3``...,
and ``fixed`` for the stem, preprocessing, sums, concatenations and classifier) and ``scale_g >= 0``
is fitted by non-negative least squares on relative errors, shrunk towards 1 (the table is right)
so that few networks cannot overfit. The model stays additive: a calibrated op costs
``scale_g * (latency - overhead)``, so a search's expected latency is still a weighted sum of table
entries. Networks held out of the fit judge it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FIXED = "fixed"


def entry_latency(entry: Mapping[str, Any], overhead_ms: float | None) -> float:
    """An op's uncorrected share of a network's latency: its time minus the per-call overhead of a session
    (counted once per network, with the stem, the first op of every network)."""
    latency = entry_time(entry)
    if entry["spec"]["op"] == "stem":
        return latency
    return max(latency - (overhead_ms or 0.0), 0.0)


def entry_time(entry: Mapping[str, Any]) -> float:
    """An entry's measured time (ms): the latency statistic, or the median in tables made before it existed."""
    return float(entry["latency_ms"] if "latency_ms" in entry else entry["median_ms"])


def network_features(ops: Mapping[str, int], entries: Mapping[str, Mapping[str, Any]],
                     overhead_ms: float | None) -> dict[str, float]:
    """Uncorrected latency of one network summed per group (``ops``: entry key -> how often it occurs)."""
    totals: dict[str, float] = {}
    for key, count in ops.items():
        entry = entries[key]
        group = entry.get("group", FIXED)
        totals[group] = totals.get(group, 0.0) + count * entry_latency(entry, overhead_ms)
    return totals


def nnls(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative least squares by enumerating supports (exact; fine for the dozen columns used here)."""
    columns = matrix.shape[1]
    best, best_residual = np.zeros(columns), float(np.sum(target ** 2))
    for mask in range(1, 2 ** columns):
        support = [i for i in range(columns) if mask >> i & 1]
        solution = np.linalg.lstsq(matrix[:, support], target, rcond=None)[0]
        if (solution < 0).any():
            continue
        residual = float(np.sum((matrix[:, support] @ solution - target) ** 2))
        if residual < best_residual - 1e-15:
            best_residual = residual
            best = np.zeros(columns)
            best[support] = solution
    return best


def fit_scales(features: Sequence[Mapping[str, float]], measured: Sequence[float],
               shrinkage: float = 0.05) -> dict[str, float]:
    """Per-group scales with ``measured ~ sum_g scale_g * features_g`` in relative terms, shrunk towards 1.

    Rows are divided by the measured latency, so the fit minimises relative errors (the targets are
    shares within 5 and 10%). ``shrinkage`` is the penalty on ``scale - 1`` relative to the average
    squared (relative) group total; groups absent from every network keep the scale 1.
    """
    groups = sorted({g for row in features for g, value in row.items() if value > 0})
    weights = 1.0 / np.asarray(measured, dtype=float)
    matrix = np.array([[row.get(g, 0.0) for g in groups] for row in features]) * weights[:, None]
    target = np.asarray(measured, dtype=float) * weights
    penalty = math.sqrt(shrinkage * float((matrix ** 2).sum(axis=0).mean())) if groups else 0.0
    augmented = np.vstack([matrix, penalty * np.eye(len(groups))])
    solution = nnls(augmented, np.concatenate([target, penalty * np.ones(len(groups))]))
    return {group: float(scale) for group, scale in zip(groups, solution)}


def predict(features: Mapping[str, float], scales: Mapping[str, float] | None) -> float:
    """A network's latency from its group totals (uncalibrated when ``scales`` is ``None``)."""
    return float(sum(value * (scales or {}).get(group, 1.0) for group, value in features.items()))


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):  # ties share their average rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties counted as in SciPy's default)."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else float("nan")


def agreement(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """How well predictions match measurements: relative errors and rank correlations."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    relative = p / m - 1.0
    result = {"n": int(len(p)), "mean_error": float(relative.mean()), "mean_abs_error": float(np.abs(relative).mean()),
              "max_abs_error": float(np.abs(relative).max()), "within_5pct": float((np.abs(relative) <= 0.05).mean()),
              "within_10pct": float((np.abs(relative) <= 0.10).mean())}
    if len(p) >= 3 and np.ptp(p) > 0 and np.ptp(m) > 0:
        result["pearson_r"] = float(np.corrcoef(p, m)[0, 1])
        result["spearman_rho"] = float(np.corrcoef(_ranks(p), _ranks(m))[0, 1])
        result["kendall_tau"] = kendall_tau(p, m)
    return result
