"""The analytical parameter count of an op (weights and affine BN parameters), and its provider.

Formulas (convs have no bias; an affine BN has 2C parameters; the stem BN and the classifier
are always affine):

* sep_conv_kxk: ``2 (k^2 C + C^2)`` + two BNs;  dil_conv_kxk: ``k^2 C + C^2`` + one BN
* skip_connect at stride 2, factorized_reduce, relu_conv_bn: ``C_in C_out`` + one BN
* stem (``9 C_in C_out + 2 C_out``) and classifier (``C_in C_out + C_out``): counted on their modules, the ones
  both networks are built of
* none, pools, identity, add, concat: 0

An op registered by a third party has no formula here either; its instantiated module is counted instead.
A plugin that offers parameter counts as a cost (rapdarts' own does) wraps :func:`parameter_count`.
"""

from __future__ import annotations

from rapdarts.costs.spec import OpSpec, build_module

VERSION = "1"


def parameter_count(spec: OpSpec) -> float:
    """Parameters of the op of ``spec`` as its network builds it."""
    affine = spec.network == "eval"
    bn = 2 * spec.C_out if affine else 0
    family, k = spec.family, spec.kernel_size
    if spec.op in ("add", "concat") or family in ("none", "pool"):
        return 0.0
    if family == "skip":
        return 0.0 if spec.stride == 1 else float(spec.C_in * spec.C_out + bn)
    if family == "sep_conv":
        return float(2 * (k * k * spec.C_in + spec.C_in * spec.C_out) + 2 * bn)
    if family == "dil_conv":
        return float(k * k * spec.C_in + spec.C_in * spec.C_out + bn)
    if spec.op in ("relu_conv_bn", "factorized_reduce"):
        return float(spec.C_in * spec.C_out + bn)
    return float(sum(p.numel() for p in build_module(spec).parameters()))
