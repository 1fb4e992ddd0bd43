"""FLOPs of an op at its input shape, counted by fvcore's ``FlopCountAnalysis``, and their provider.

Convention (fvcore's): one fused multiply-add counts as one flop, so conv and linear flops are
MACs; an eval-mode BN counts one per element (two if affine). Ops fvcore does not count are
handled explicitly, never silently:

* ``max_pool2d`` / ``avg_pool2d`` (fvcore: unsupported): one per window element per output,
  ``outputs * k^2`` (comparisons or additions);
* ``add`` (node sums; fvcore: unsupported): one per output element;
* ``relu``, ``cat``, ``slice``, ``pad``, dropout (fvcore: ignored on purpose): zero;
* ``none``: zero without tracing.

Any other op fvcore reports as unsupported is an error naming the op, so a new op cannot be
silently priced at zero. Checked with fvcore 0.1.5.post20221221 on torch 2.14: it works; its
import emits a FutureWarning about ``torch.jit.script`` (harmless, filtered here). A plugin that
offers flops as a cost (rapdarts' own does) wraps :func:`op_flops`.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

import torch

from rapdarts.costs.spec import OpSpec, build_module, example_input
from rapdarts.space.ops import is_zero

VERSION = "fvcore-0.1.5-1"


def _output_elements(outputs: list[Any]) -> int:
    from fvcore.nn.jit_handles import get_shape

    return math.prod(get_shape(outputs[0]))


def _constant_ints(value: Any) -> list[int]:
    """A traced ``int[]`` argument: a constant, or a ``prim::ListConstruct`` of constants."""
    constant = value.toIValue()
    if constant is not None:
        return list(constant)
    return [item.toIValue() for item in value.node().inputs()]


def _pool(inputs: list[Any], outputs: list[Any]) -> Counter:
    kernel = _constant_ints(inputs[1])
    return Counter({"pool": _output_elements(outputs) * math.prod(kernel)})


def extra_handles() -> dict[str, Any]:
    """The handles fvcore lacks: pools (per window element), node sums (fvcore's own elementwise counter, one per
    output element) and ops ignored on purpose (``None``)."""
    from fvcore.nn.jit_handles import elementwise_flop_counter

    add = elementwise_flop_counter(input_scale=0, output_scale=1)
    return {"aten::max_pool2d": _pool, "aten::avg_pool2d": _pool, "aten::add": add, "aten::add_": add,
            "aten::constant_pad_nd": None, "aten::pad": None, "aten::dropout": None}


def flop_analysis(module: torch.nn.Module, inputs: torch.Tensor):
    """A configured ``FlopCountAnalysis`` (project handles, no warnings printed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from fvcore.nn import FlopCountAnalysis

        handles = extra_handles()
    analysis = FlopCountAnalysis(module.eval(), inputs).set_op_handle(**handles)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


def count_flops(module: torch.nn.Module, inputs: torch.Tensor) -> float:
    analysis = flop_analysis(module, inputs)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total = analysis.total()
    unsupported = analysis.unsupported_ops()
    if unsupported:
        raise ValueError(f"fvcore cannot count {', '.join(sorted(unsupported))}; add a handle in "
                         "rapdarts/costs/flops.py")
    return float(total)


def op_flops(spec: OpSpec) -> float:
    """FLOPs (multiply-adds) of the op of ``spec``."""
    if is_zero(spec.op):
        return 0.0
    return count_flops(build_module(spec), example_input(spec))
