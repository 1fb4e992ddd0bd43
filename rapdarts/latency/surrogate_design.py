"""The designed sample of kernel configurations the latency surrogate learns from: which op specs to time.

A predictor for a device is only as good as the configurations it was shown. nn-Meter (Zhang et al.,
MobiSys 2021) samples thousands of kernel configurations per kernel type, first to cover the space
and then adaptively where the fitted error is large; this module does the same for this search
space, on a budget a 2-core machine can time in half an hour:

* **The space**, per op type (every cell op but ``none``, and the fixed parts of a network): the
  cell's channel count ``C`` log-uniform in ``channels`` (most of them multiples of 4, see
  :data:`ALIGNED_SHARE`), the input resolution log-uniform in
  ``resolution`` (odd sizes included: reductions of 7x7 give 4x4), the batch log-uniform in
  ``batch``, and one discrete choice: stride 2 for a share of the cell ops, and for the fixed parts
  the channel ratio their place in a network gives them (a cell's 1x1 preprocessing reads ``1-4 C``
  channels, a concatenation writes ``2-4 C``, the stem reads 1 or 3, the classifier ``4 C`` into 10
  or 100 classes). Configurations whose largest activation exceeds ``max_elements`` (2 MiB of
  fp32 at the default) are left out: they take tens of milliseconds per run and no network a user
  searches on a CPU has them.
* **Where networks put ops**: half of the configurations are drawn as a network would place them
  (:func:`network_configuration`: a width, an image size and a stage, so channels and resolution
  go together as they do in a network); the other half anywhere in the box.
* **Space-filling**: a scrambled Sobol sequence per op type (:mod:`scipy.stats.qmc`), consumed in
  order, so any prefix of the design covers the space evenly; op types are interleaved by weight
  (convolutions, which decide a network's latency, get more points than sums and pools).
* **Adaptive**: :func:`neighbours` draws configurations close to a given one (channels and
  resolution within about 15%, the batch within about 25%), for the configurations whose
  cross-validated error is the largest.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rapdarts.costs.spec import FIXED_OPS, OpSpec
from rapdarts.latency.surrogate_features import op_types

DIMENSIONS = 6
"""Unit coordinates per configuration: channels, resolution, batch, the op's discrete choice, channel alignment, and
where it lies (a place in a network, and which stage, or anywhere in the box)."""
NETWORK_SHARE = 0.5
"""Configurations drawn where a network puts them (a stage's channels and resolution go together) rather than
anywhere in the box: the shapes a user searches and deploys, sampled densely, and the box around them."""
STAGES = 3
"""Stages of an evaluation network (the channels double and the resolution halves at each of its 2 reductions)."""
ALIGNED_SHARE = 0.8
"""Configurations whose cell channel count is rounded to a multiple of 4, as the widths of published networks are
(16, 24, 36, 48 and their doublings): ONNX Runtime's blocked (NCHWc) convolutions pad channels to a block and take a
three times slower path for counts that are not multiples of 4, so both kinds are sampled."""
STREAM = 12
"""Each op type's Sobol stream holds 2**STREAM points (before the activation cap removes some)."""
WEIGHTS = {"sep_conv_3x3": 3.0, "sep_conv_5x5": 3.0, "dil_conv_3x3": 3.0, "dil_conv_5x5": 3.0,
           "relu_conv_bn": 3.0, "factorized_reduce": 2.0, "stem": 1.5, "max_pool_3x3": 1.5, "avg_pool_3x3": 1.5,
           "skip_connect": 1.0, "add": 1.0, "concat": 1.0, "classifier": 1.0}
"""Share of the design per op type (types not named here, a plugin's ops, weigh 2)."""
STRIDE2_SHARE = 0.3
"""Cell ops sampled at stride 2 (the inputs of reduction cells)."""


@dataclass(frozen=True)
class DesignRanges:
    """The region of configurations the sample covers (and the surrogate is trusted in)."""

    channels: tuple[int, int] = (8, 256)
    """The cell's channel count ``C`` (fixed parts scale theirs from it)."""
    resolution: tuple[int, int] = (4, 64)
    batch: tuple[int, int] = (1, 16)
    max_elements: int = 2 ** 19
    """The largest activation (batch x channels x pixels, input or output) of a configuration."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DesignRanges:
        return cls(tuple(data["channels"]), tuple(data["resolution"]), tuple(data["batch"]),  # type: ignore[arg-type]
                   int(data["max_elements"]))


def log_uniform(u: float, low: int, high: int) -> int:
    """An integer in ``[low, high]`` from ``u`` in ``[0, 1)``, uniform in the logarithm (each integer gets the
    share of the log-range around it)."""
    value = math.exp(math.log(low - 0.5) + u * (math.log(high + 0.5) - math.log(low - 0.5)))
    return min(high, max(low, round(value)))


def largest_activation(spec: OpSpec) -> int:
    out_h, out_w = spec.output_size
    return spec.batch * max(spec.C_in * spec.height * spec.width, spec.C_out * out_h * out_w)


def shaped(op: str, C: int, size: int, batch: int, choice: float) -> OpSpec:
    """The spec of ``op`` for a cell of ``C`` channels at ``size`` x ``size``: its channels and stride as its
    place in a network gives them, the discrete part picked by ``choice`` in ``[0, 1)``."""
    pick = lambda options: options[min(int(choice * len(options)), len(options) - 1)]  # noqa: E731
    if op == "stem":
        return OpSpec(op, pick((3, 3, 3, 1)), 3 * C, 1, size, size, batch)
    if op == "relu_conv_bn":
        return OpSpec(op, pick((1, 2, 3, 4)) * C, C, 1, size, size, batch)
    if op == "factorized_reduce":
        return OpSpec(op, round(pick((1.0, 1.5, 2.0)) * C), C, 2, size, size, batch)
    if op == "add":
        return OpSpec(op, C, C, 1, size, size, batch)
    if op == "concat":
        return OpSpec(op, C, pick((2, 3, 4)) * C, 1, size, size, batch)
    if op == "classifier":
        return OpSpec(op, 4 * C, 10 if choice < 0.7 else 100, 1, size, size, batch)
    return OpSpec(op, C, C, 2 if choice < STRIDE2_SHARE else 1, size, size, batch)


def cell_channels(spec: OpSpec) -> int:
    """The cell channel count ``C`` a spec was shaped from (the inverse of :func:`shaped`'s channel rule)."""
    if spec.op == "stem":
        return max(1, spec.C_out // 3)
    if spec.op == "classifier":
        return max(1, spec.C_in // 4)
    return spec.C_out if spec.op in ("relu_conv_bn", "factorized_reduce") else spec.C_in


def inside(spec: OpSpec, ranges: DesignRanges) -> bool:
    """Whether ``spec`` lies in the region the design covers."""
    low_c, high_c = ranges.channels
    low_r, high_r = ranges.resolution
    low_b, high_b = ranges.batch
    return (low_c <= cell_channels(spec) <= high_c and low_r <= min(spec.height, spec.width)
            and max(spec.height, spec.width) <= high_r and low_b <= spec.batch <= high_b
            and largest_activation(spec) <= ranges.max_elements)


def aligned(channels: int, low: int, high: int) -> int:
    """``channels`` rounded to a multiple of 4 within ``[low, high]`` (when the range holds one)."""
    candidates = [c for c in (4 * round(channels / 4), 4 * (channels // 4), 4 * -(-channels // 4)) if low <= c <= high]
    return candidates[0] if candidates else channels


def configuration(op: str, point: np.ndarray, ranges: DesignRanges) -> OpSpec:
    """The spec of unit point ``point`` (``DIMENSIONS`` coordinates in ``[0, 1)``) for ``op``: a place in a network
    for the first :data:`NETWORK_SHARE` of the last coordinate (:func:`network_configuration`), else anywhere in the
    box of ``ranges``."""
    if point[5] < NETWORK_SHARE:
        return network_configuration(op, point, ranges, point[5] / NETWORK_SHARE)
    channels = log_uniform(point[0], *ranges.channels)
    if point[4] < ALIGNED_SHARE:
        channels = aligned(channels, *ranges.channels)
    return shaped(op, channels, log_uniform(point[1], *ranges.resolution), log_uniform(point[2], *ranges.batch),
                  float(point[3]))


def network_configuration(op: str, point: np.ndarray, ranges: DesignRanges, stage_point: float) -> OpSpec:
    """``op`` where an evaluation network puts it: a network of ``C`` channels (log-uniform over the channel range
    divided by 4) on images of the resolution range; a cell of stage ``s`` (0-2, from ``stage_point``) has ``2^s C``
    channels at the image size over ``2^s``; stride-2 ops and factorized reductions read the previous stage's size,
    the stem sits at stage 0 and the classifier after stage 2."""
    low, high = ranges.channels
    width = log_uniform(point[0], low, max(low, high // 2 ** (STAGES - 1)))
    if point[4] < ALIGNED_SHARE:
        width = aligned(width, low, max(low, high // 2 ** (STAGES - 1)))
    image = log_uniform(point[1], *ranges.resolution)
    reduces = op == "factorized_reduce" or (op not in FIXED_OPS and point[3] < STRIDE2_SHARE)
    if op == "stem":
        stage = 0
    elif op == "classifier":
        stage = STAGES - 1
    elif reduces:
        stage = 1 + min(int(stage_point * (STAGES - 1)), STAGES - 2)
    else:
        stage = min(int(stage_point * STAGES), STAGES - 1)
    size = max(ranges.resolution[0], -(-image // 2 ** (stage - 1 if reduces else stage)))
    return shaped(op, width * 2 ** stage, size, log_uniform(point[2], *ranges.batch), float(point[3]))


def interleaved(ops: Iterable[str], count: int) -> list[str]:
    """``count`` op types in a deterministic order that gives each its :data:`WEIGHTS` share at every prefix
    (smooth weighted round robin)."""
    weights = {op: WEIGHTS.get(op, 2.0) for op in ops}
    total = sum(weights.values())
    credit = dict.fromkeys(weights, 0.0)
    order = []
    for _ in range(count):
        for op, weight in weights.items():
            credit[op] += weight
        chosen = max(credit, key=lambda name: credit[name])
        credit[chosen] -= total
        order.append(chosen)
    return order


@functools.lru_cache(maxsize=64)
def sobol_points(seed: int) -> np.ndarray:
    """``2**STREAM`` scrambled Sobol points of ``DIMENSIONS`` coordinates (the same for the same seed)."""
    from scipy.stats import qmc

    return qmc.Sobol(DIMENSIONS, scramble=True, seed=seed).random_base2(STREAM)


@dataclass
class Stream:
    """One op type's configurations along its Sobol sequence: distinct, within the activation cap, made as needed."""

    op: str
    points: np.ndarray
    ranges: DesignRanges
    cursor: int = 0
    specs: list[OpSpec] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def at(self, index: int) -> OpSpec | None:
        """The ``index``-th configuration (``None`` past the end of the sequence)."""
        while len(self.specs) <= index and self.cursor < len(self.points):
            spec = configuration(self.op, self.points[self.cursor], self.ranges)
            self.cursor += 1
            if spec.key() not in self.seen and largest_activation(spec) <= self.ranges.max_elements:
                self.seen.add(spec.key())
                self.specs.append(spec)
        return self.specs[index] if index < len(self.specs) else None


@dataclass
class Design:
    """The space-filling part of the sample: ``take(n)`` returns the next ``n`` configurations, in order.

    ``position`` counts the configurations handed out so far, so a resumed profile continues where it
    stopped with the same sequence (everything follows from ``seed``).
    """

    seed: int = 0
    ranges: DesignRanges = field(default_factory=DesignRanges)
    ops: tuple[str, ...] = field(default_factory=lambda: tuple(op_types()))
    position: int = 0
    _streams: dict[str, Stream] = field(default_factory=dict, repr=False)
    _used: dict[str, int] = field(default_factory=dict, repr=False)

    def _stream(self, op: str) -> Stream:
        if op not in self._streams:
            self._streams[op] = Stream(op, sobol_points(self.seed * 1009 + self.ops.index(op)), self.ranges)
        return self._streams[op]

    def take(self, count: int) -> list[OpSpec]:
        """The next ``count`` configurations (fewer when every stream is used up)."""
        order = interleaved(self.ops, self.position + count)
        if not self._used:
            for op in order[:self.position]:
                self._used[op] = self._used.get(op, 0) + 1
        chosen = []
        for op in order[self.position:]:
            used = self._used.get(op, 0)
            spec = self._stream(op).at(used)
            if spec is not None:
                chosen.append(spec)
            self._used[op] = used + 1
        self.position += count
        return chosen


def neighbours(spec: OpSpec, count: int, rng: random.Random, ranges: DesignRanges,
               known: set[str]) -> list[OpSpec]:
    """Up to ``count`` new configurations near ``spec`` (same op type, stride and channel ratio; channels and
    resolution moved by about 15%, the batch by about 25%), inside ``ranges`` and not in ``known``."""
    found: list[OpSpec] = []
    for _ in range(20 * count):
        if len(found) >= count:
            break
        factor = math.exp(rng.gauss(0.0, 0.15))
        size = round(spec.height * math.exp(rng.gauss(0.0, 0.15)))
        batch = round(spec.batch * math.exp(rng.gauss(0.0, 0.25)))
        candidate = rescaled(spec, factor, size, batch)
        if candidate is None or not inside(candidate, ranges) or candidate.key() in known:
            continue
        known.add(candidate.key())
        found.append(candidate)
    return found


def rescaled(spec: OpSpec, factor: float, size: int, batch: int) -> OpSpec | None:
    """``spec`` with its cell channel count scaled by ``factor`` (its channel ratio kept exactly), at ``size`` x
    ``size`` and ``batch``."""
    if size < 1 or batch < 1:
        return None
    base = cell_channels(spec)
    channels = max(1, round(base * factor))
    C_in = spec.C_in if spec.op == "stem" else max(1, round(spec.C_in * channels / base))
    C_out = spec.C_out if spec.op == "classifier" else max(1, round(spec.C_out * channels / base))
    return OpSpec(spec.op, C_in, C_out, spec.stride, size, size, batch, spec.dtype, spec.network)
