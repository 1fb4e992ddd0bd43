"""What the latency surrogate knows of an op spec: the op types it models and one row of numbers per spec.

The numbers are the shape of the op (log channels in and out, log input pixels, stride, batch),
the facts of its kind (kernel, dilation), three physical quantities that latency follows on a
CPU: flops (multiply-adds, counted by :func:`rapdarts.costs.flops.op_flops`), parameters
(:func:`rapdarts.costs.params.parameter_count`) and bytes moved (input and output activations plus
weights), and how the channel counts fall into blocks: vectorised CPU kernels work on blocks of
channels (ONNX Runtime's NCHWc convolutions pad them to blocks of 8 or 16 and take a much slower
path when a count is not a multiple of 4; measured here: a separable 3x3 conv at 16x16 takes the
same time at 36, 44 and 48 channels and three times as long at 34 or 38), so the channel counts
rounded up to blocks of 8 and 16 and whether they are multiples of 4, 8 and 16 are features too
(the last two say whether ONNX Runtime can keep the tensor in its blocked layout: a pool of 36 or 72
channels runs in plain NCHW on an AVX-512 CPU and pays no layout change, one of 32 or 48 does,
``benchmarks/op_context.py``; with these flags the surrogate of 2026-12-04 put 50% of unseen
convolutions within ±10% instead of 39-45%, ``benchmarks/RESULTS.md``).
Everything is a logarithm where it is a size, so a power law ``t = a * flops^b * ...`` is
linear in the features. Flops and parameters are cached on disk through the cost cache, like any
cost, by two internal providers that plugin discovery never sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rapdarts.costs.cache import CostCache
from rapdarts.costs.flops import VERSION as FLOPS_VERSION
from rapdarts.costs.flops import op_flops
from rapdarts.costs.params import VERSION as PARAMS_VERSION
from rapdarts.costs.params import parameter_count
from rapdarts.costs.spec import FIXED_OPS, OpSpec
from rapdarts.errors import RapdartsError
from rapdarts.plugins.provider import CostProvider
from rapdarts.space.ops import derivable

NUMERIC = ("log_flops", "log_bytes", "log_params", "log_pixels", "log_c_in", "log_c_out", "stride", "kernel",
           "dilation", "log_batch", "log_c_in_8", "log_c_out_8", "log_c_in_16", "log_c_out_16", "c_in_aligned",
           "c_out_aligned", "c_in_blocks_8", "c_out_blocks_8", "c_in_blocks_16", "c_out_blocks_16")
"""The feature columns, in order (a model file records them and refuses other ones)."""
ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def padded(channels: int, block: int) -> int:
    """``channels`` rounded up to a whole number of ``block``-channel blocks."""
    return block * -(-channels // block)


def op_types() -> list[str]:
    """Every op type a network runs: the cell ops of the registry except ``none``, then the fixed parts."""
    return derivable() + list(FIXED_OPS)


def feature_names() -> list[str]:
    return list(NUMERIC)


class FeatureMaker:
    """Turns op specs into feature rows (flops and params counted by rapdarts itself, cached on disk)."""

    def __init__(self) -> None:
        self.flops = CostProvider("surrogate-feature-flops", "flops", "", op_flops, FLOPS_VERSION)
        self.params = CostProvider("surrogate-feature-params", "parameters", "", parameter_count, PARAMS_VERSION)
        self.cache = CostCache()

    def numeric(self, spec: OpSpec) -> dict[str, float]:
        params = self.cache.cost(self.params, spec)
        flops = self.cache.cost(self.flops, spec)
        out_h, out_w = spec.output_size
        moved = (spec.batch * (spec.C_in * spec.height * spec.width + spec.C_out * out_h * out_w) + params) \
            * ITEMSIZE.get(spec.dtype, 4)
        return {"log_flops": math.log1p(flops), "log_bytes": math.log1p(moved), "log_params": math.log1p(params),
                "log_pixels": math.log(spec.height * spec.width), "log_c_in": math.log(spec.C_in),
                "log_c_out": math.log(spec.C_out), "stride": float(spec.stride), "kernel": float(spec.kernel_size),
                "dilation": float(spec.dilation), "log_batch": math.log(spec.batch),
                "log_c_in_8": math.log(padded(spec.C_in, 8)), "log_c_out_8": math.log(padded(spec.C_out, 8)),
                "log_c_in_16": math.log(padded(spec.C_in, 16)), "log_c_out_16": math.log(padded(spec.C_out, 16)),
                "c_in_aligned": float(spec.C_in % 4 == 0), "c_out_aligned": float(spec.C_out % 4 == 0),
                "c_in_blocks_8": float(spec.C_in % 8 == 0), "c_out_blocks_8": float(spec.C_out % 8 == 0),
                "c_in_blocks_16": float(spec.C_in % 16 == 0), "c_out_blocks_16": float(spec.C_out % 16 == 0)}

    def rows(self, specs: Sequence[OpSpec]) -> np.ndarray:
        """``[len(specs), len(NUMERIC)]`` features; an op type outside :func:`op_types` is a one-line error."""
        known = set(op_types())
        matrix = []
        for spec in specs:
            if spec.op not in known:
                raise RapdartsError(f"the surrogate knows no op {spec.op!r}")
            values = self.numeric(spec)
            matrix.append([values[name] for name in NUMERIC])
        self.cache.flush([self.flops, self.params])
        return np.asarray(matrix, dtype=float).reshape(len(matrix), len(NUMERIC))
