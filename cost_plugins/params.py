"""``params``: the analytical parameter count of an op (weights and affine BN parameters).

Formulas (convs have no bias; an affine BN has 2C parameters; the stem BN and the classifier
are always affine):

* sep_conv_kxk: ``2 (k^2 C + C^2)`` + two BNs;  dil_conv_kxk: ``k^2 C + C^2`` + one BN
* skip_connect at stride 2, factorized_reduce, relu_conv_bn: ``C_in C_out`` + one BN
* stem: ``9 C_in C_out + 2 C_out``;  classifier: ``C_in C_out + C_out``
* none, pools, identity, add, concat: 0

An op registered by a third party has no formula here; its instantiated module is counted instead.
"""

from __future__ import annotations

from rapdarts.costs import CostProvider, OpSpec, build_module
from rapdarts.hookspecs import hookimpl

VERSION = "1"


def parameter_count(spec: OpSpec) -> float:
    affine = spec.network == "eval"
    bn = 2 * spec.C_out if affine else 0
    op = spec.op
    if op in ("none", "max_pool_3x3", "avg_pool_3x3", "add", "concat"):
        return 0.0
    if op == "skip_connect":
        return 0.0 if spec.stride == 1 else float(spec.C_in * spec.C_out + bn)
    if op.startswith("sep_conv_"):
        k = spec.kernel_size
        return float(2 * (k * k * spec.C_in + spec.C_in * spec.C_out) + 2 * bn)
    if op.startswith("dil_conv_"):
        k = spec.kernel_size
        return float(k * k * spec.C_in + spec.C_in * spec.C_out + bn)
    if op in ("relu_conv_bn", "factorized_reduce"):
        return float(spec.C_in * spec.C_out + bn)
    if op == "stem":
        return float(9 * spec.C_in * spec.C_out + 2 * spec.C_out)
    if op == "classifier":
        return float(spec.C_in * spec.C_out + spec.C_out)
    return float(sum(p.numel() for p in build_module(spec).parameters()))


@hookimpl
def rapdarts_cost_providers():
    return [CostProvider("params", "parameters", "analytical parameter count (weights + affine BN)",
                         parameter_count, VERSION)]
