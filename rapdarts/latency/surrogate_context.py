"""An op inside a network, from the op alone: chains of the op timed with the sample, and a model of the ratio.

An op timed alone pays at its boundaries what an op between neighbours does not: ONNX Runtime
changes the layout of a tensor at the graph's input and output (its blocked NCHWc layout, for the
channel counts its kernels block), and a session copies the input in and the output out. Measured
on this project's machine kind (``benchmarks/op_context.py``, ``benchmarks/RESULTS.md``, 2026-12-04):
in a chain of its own kind a 3x3 separable conv costs 0.74-1.0 of its time alone, a pool 0.3-0.6
of it where its channels are a multiple of the block and about 1.0 where they are not, and the sum
of ops alone over-priced C=16 networks by about the 48% the whole networks showed. One factor per
op group cannot hold that (it changes with width and channel alignment), which is why the
surrogate's network calibration kept failing at unprofiled widths.

So a profile times, for one in :data:`CHAIN_EVERY` of the configurations that can be chained
(stride 1, as many channels out as in), a model of :data:`CHAIN_LENGTH` copies of the op in the
same rounds as the op alone. ``in_chain = (T_K - T_1) / (K - 1)`` is what one op costs between
neighbours, and ``ratio = in_chain / (T_1 - overhead)`` the share of its priced time it keeps.
:class:`ContextModel` learns the ratio per op type (gradient boosting on the surrogate's features,
a median where an op type has few chains). A network is not a chain of one op, so how much of the
chains' saving it really sees is a weight ``w`` fitted on the calibration networks
(:func:`rapdarts.latency.surrogate_networks.fit_context_weight`), and the surrogate prices an op
inside a network as ``(1 - w (1 - ratio)) * (predicted time alone - overhead)``. Ops that cannot
be chained take the model of their op type (a stride-2 pool, the 1x1 preprocessing between
widths); op types never chained (the stem, which really is at the graph input, the classifier,
concatenations) keep a ratio of 1 and are left to the per-group calibration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rapdarts.costs.spec import OpSpec
from rapdarts.latency import surrogate_models as model_kinds
from rapdarts.space.ops import primitives

CHAIN_LENGTH = 3
"""Copies of the op in a chain: the marginal op is measured over two neighbours."""
CHAIN_EVERY = 5
"""One in this many chainable configurations is also timed as a chain (a chain costs about three ops' time)."""
CHAINED_FIXED = ("relu_conv_bn", "add")
"""Fixed parts that can be chained like cell ops (a 1x1 preprocessing of equal widths, a sum)."""
RATIO_RANGE = (0.0, 1.5)
"""Measured ratios are clipped to this range: a chain that ran faster than its first op, or slower than
one and a half times, is a noisy pair of timings, not a physical effect."""
MIN_BOOSTED = 12
"""Fewest chains of an op type for a boosted model; below it, the median ratio of its chains."""


def chainable(spec: OpSpec) -> bool:
    """Whether copies of the op can follow one another (same shape in and out)."""
    if spec.stride != 1 or spec.C_in != spec.C_out or spec.op == "none":
        return False
    return spec.op in primitives() or spec.op in CHAINED_FIXED


def chosen_for_chain(spec: OpSpec) -> bool:
    """Whether the profile times ``spec`` as a chain too: chainable, and one in :data:`CHAIN_EVERY` by a stable
    digest of its key (the same configuration is chosen in every run and every continued sample)."""
    if not chainable(spec):
        return False
    return int(hashlib.sha1(spec.key().encode()).hexdigest()[:8], 16) % CHAIN_EVERY == 0


def chain_name(key: str) -> str:
    return f"chain:{key}"


def export_chain(spec: OpSpec, length: int = CHAIN_LENGTH) -> bytes:
    """ONNX bytes of ``length`` copies of the op of ``spec`` applied one after another (each with its own weights)."""
    import torch

    from rapdarts.costs.spec import build_module, example_input
    from rapdarts.deploy.onnx_export import export_onnx

    module = torch.nn.Sequential(*[build_module(spec) for _ in range(length)]).eval()
    return export_onnx(module, example_input(spec), what=f"a chain of {length} x {spec.describe()}")


def measured_ratio(entry: Mapping[str, Any], overhead_ms: float | None) -> float | None:
    """The in-chain ratio of a sample entry that was timed as a chain too (``None`` otherwise)."""
    if entry.get("chain_ms") is None:
        return None
    alone, length = float(entry["latency_ms"]), int(entry["chain_length"])
    priced = alone - (overhead_ms or 0.0)
    if priced <= 0 or length < 2:
        return None
    in_chain = (float(entry["chain_ms"]) - alone) / (length - 1)
    return float(np.clip(in_chain / priced, *RATIO_RANGE))


@dataclass
class ContextModel:
    """The in-context ratio per op type, fitted on chains of the sample (deterministic: a refit is the same)."""

    x: np.ndarray
    ratios: np.ndarray
    ops: list[str]
    models: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        labels = np.asarray(self.ops)
        for op in sorted(set(self.ops)):
            mask = labels == op
            if mask.sum() >= MIN_BOOSTED:
                self.models[op] = _ratio_model()
                with model_kinds.single_threaded():
                    self.models[op].fit(self.x[mask], self.ratios[mask])
            else:
                self.models[op] = float(np.median(self.ratios[mask]))

    def predict(self, x: np.ndarray, ops: Sequence[str]) -> np.ndarray:
        """The ratio of each row (1 for op types never chained)."""
        ratios = np.ones(len(ops))
        labels = np.asarray(ops)
        for op in set(ops):
            if op not in self.models:
                continue
            mask = labels == op
            model = self.models[op]
            ratios[mask] = model if isinstance(model, float) else model_kinds.predict(model, x[mask])
        return np.clip(ratios, *RATIO_RANGE)

    def summary(self) -> dict[str, Any]:
        """Chains and the median measured ratio per op type (for reports)."""
        labels = np.asarray(self.ops)
        return {"chains": len(self.ops), "chain_length": CHAIN_LENGTH,
                "median_ratio": {op: float(np.median(self.ratios[labels == op])) for op in sorted(set(self.ops))}}


def _ratio_model() -> Any:
    """Gradient boosting with larger leaves than the latency models': a ratio is the quotient of two noisy timings,
    so a leaf should average many chains."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                                         early_stopping=False, random_state=0)


def context_data(keys: Sequence[str], entries: Mapping[str, Mapping[str, Any]], overhead_ms: float | None
                 ) -> tuple[list[int], list[float]]:
    """Indices (into ``keys``) of the entries timed as chains too, and their measured ratios."""
    index, ratios = [], []
    for position, key in enumerate(keys):
        ratio = measured_ratio(entries[key], overhead_ms)
        if ratio is not None:
            index.append(position)
            ratios.append(ratio)
    return index, ratios
