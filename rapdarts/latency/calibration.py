"""From table entries to op costs: overhead accounting and the additivity correction.

A table entry is the median time of one op run alone, ``overhead + compute``. A whole network is
one ``session.run`` call, so the overhead is counted once (with the stem, the first op of every
network) and every other op costs ``median - overhead``.

Running ops one by one is not running them together: ONNX Runtime fuses and re-lays-out across op
boundaries, so a plain sum can be off (measured on this project's machines: a chain of five ops
took 1/1.37 of the sum of its parts with all graph optimisations, 1/0.97 with none).
``rapdarts validate-latency --calibrate`` measures whole networks and fits one scale factor per op
group (convolutions, pools, skip-connects, fixed parts) by non-negative least squares
(:func:`fit_correction`), stored in the table header as ``correction``. The model stays additive,
so the search's expected latency is still a weighted sum of table entries.
"""

from __future__ import annotations

import math
from typing import Any

from rapdarts.costs.spec import OpSpec

CORRECTION_GROUPS = ("conv", "pool", "skip", "fixed")
"""Groups with their own scale factor: the three kinds of cell op, and all fixed parts together."""


GROUP_OF_FAMILY = {"sep_conv": "conv", "dil_conv": "conv", "pool": "pool", "skip": "skip"}


def op_group(spec: OpSpec) -> str:
    """The correction group of an op: ops that fuse and lay out alike share a factor."""
    return GROUP_OF_FAMILY.get(spec.family, "fixed")


def corrected_latency(header: dict[str, Any], spec: OpSpec, median_ms: float) -> float:
    """The cost (ms) of one op in a whole network, from its table median."""
    overhead = header.get("overhead_ms") or 0.0
    value = median_ms if spec.op == "stem" else max(median_ms - overhead, 0.0)
    correction = header.get("correction")
    if correction:
        value *= correction["scale"].get(op_group(spec), 1.0)
    return value


def group_totals(header: dict[str, Any], entries: list[tuple[OpSpec, float]]) -> dict[str, float]:
    """Uncorrected op costs of one network summed per group (cell-op groups, and 'fixed')."""
    totals = {group: 0.0 for group in CORRECTION_GROUPS}
    plain = {**header, "correction": None}
    for spec, median in entries:
        group = op_group(spec)
        totals[group if group in CORRECTION_GROUPS else "fixed"] += corrected_latency(plain, spec, median)
    return totals


def fit_correction(totals: list[dict[str, float]], measured: list[float], shrinkage: float = 0.05) -> dict[str, float]:
    """Scale factors per group: ``measured ~ sum_g scale_g * total_g`` over calibration networks.

    Non-negative least squares, shrunk towards 1 ("the table is right"): a handful of calibration
    networks cannot pin down four factors on their own, and without shrinkage a group that varies
    little across networks soaks up noise. ``shrinkage`` is the penalty relative to the average
    squared group total. Fixed parts are almost constant across one target's networks, so their
    factor also absorbs a constant offset. Groups absent from every network keep the scale 1.
    """
    import numpy as np
    from scipy.optimize import nnls

    present = [g for g in CORRECTION_GROUPS if any(t[g] > 0 for t in totals)]
    matrix = np.array([[t[g] for g in present] for t in totals])
    target = np.asarray(measured, dtype=float)
    penalty = math.sqrt(shrinkage * float((matrix ** 2).sum(axis=0).mean()))
    augmented = np.vstack([matrix, penalty * np.eye(len(present))])
    solution, _ = nnls(augmented, np.concatenate([target, penalty * np.ones(len(present))]))
    scale = {g: 1.0 for g in CORRECTION_GROUPS}
    scale.update({g: float(s) for g, s in zip(present, solution)})
    return scale
