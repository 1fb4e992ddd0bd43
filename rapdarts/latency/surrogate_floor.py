"""How well the op timings a surrogate is judged against agree with themselves.

A share "within ±10%" mixes two errors: the surrogate's, and the measurement's own. On a shared
machine an op of a few microseconds timed in 8 sessions can move 10% between two timings, and no
model can agree better with a measurement than the measurement agrees with itself. Every table
entry keeps its block medians per session, so each entry can be cut into two independent halves
(:meth:`~rapdarts.ondevice.statistic.Timing.estimates`) at no extra timing cost.

From the relative difference ``d`` of the halves: each half scatters sqrt(2) times as much as the
whole (half the sessions), so ``d`` scatters twice as much as the whole entry scatters around what
an exact model would predict. Hence the *ceiling*: the share of entries with ``d / 2`` within
±5% / ±10% estimates the share an exact model of the machine would reach against these timings.
It assumes the sessions are exchangeable; slow phases that span one half only make ``d`` larger,
so the ceiling errs on the low side on a drifting machine. ``steady`` is the surrogate's own error
on the entries whose halves agree within 5%, the ones that say most about the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rapdarts.ondevice.statistic import Timing

STEADY = 0.05
"""Halves that agree within this are a steady measurement (the ``steady`` report)."""


def split_differences(entries: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Per entry, the relative difference of its two halves of sessions (NaN where it has fewer than two)."""
    differences = []
    for entry in entries:
        sessions = entry.get("blocks_ms") or []
        differences.append(Timing(blocks_ms=[list(s) for s in sessions]).split_difference
                           if len(sessions) >= 2 else np.nan)
    return np.asarray(differences, dtype=float)


def floor_stats(differences: np.ndarray) -> dict[str, Any]:
    """Shares of halves within ±5%/±10% of each other, and the ceiling an exact model would reach."""
    known = differences[~np.isnan(differences)]
    if not len(known):
        return {"n": 0}
    return {"n": int(len(known)), "median_split_difference": float(np.median(known)),
            "halves_within_5pct": float((known <= 0.05).mean()), "halves_within_10pct": float((known <= 0.10).mean()),
            "ceiling_within_5pct": float((known / 2 <= 0.05).mean()),
            "ceiling_within_10pct": float((known / 2 <= 0.10).mean())}


def measurement_floor(differences: np.ndarray, ops: Sequence[str]) -> dict[str, Any]:
    """:func:`floor_stats` overall and per op type (``differences`` from :func:`split_differences`, ``ops``: the
    op type of every entry)."""
    ops_array = np.asarray(ops)
    return {"overall": floor_stats(differences),
            "by_op": {op: floor_stats(differences[ops_array == op]) for op in sorted(set(ops_array.tolist()))}}
