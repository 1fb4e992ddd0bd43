"""OpSpec: one primitive op at the shape it sees in a target network, and how to build it.

Everything a cost provider needs to price an op: which op, its channels, stride, input size,
batch and dtype, and whether it sits in the evaluation network (affine BNs) or in the search
network (non-affine BNs, a BN after pools). Specs are frozen and hashable, so costs are cached
per distinct spec.

Besides the cell ops of the registry, the fixed parts of a network are specs too:

* ``stem``: 3x3 conv ``C_in -> C_out`` + BN.
* ``relu_conv_bn``: a cell's 1x1 input preprocessing ``C_in -> C_out``.
* ``factorized_reduce``: the preprocessing of input 0 after a reduction cell (stride 2).
* ``add``: the sum of two ``C_in``-channel tensors at a cell node.
* ``concat``: a cell's output, ``C_out // C_in`` node tensors of ``C_in`` channels concatenated.
* ``classifier``: global average pooling + linear ``C_in -> C_out`` classes (``C_out``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from rapdarts.space.ops import Classifier, FactorizedReduce, ReLUConvBN, Stem, build_op, op_info, primitives

FIXED_OPS = ("stem", "relu_conv_bn", "factorized_reduce", "add", "concat", "classifier")
FIXED_KERNELS = {"stem": 3, "relu_conv_bn": 1, "factorized_reduce": 1}
"""Spatial kernel of the fixed ops that have a convolution (the others have none)."""


@dataclass(frozen=True)
class OpSpec:
    """One op instance: ``op`` applied to a ``[batch, C_in, height, width]`` tensor of ``dtype``."""

    op: str
    C_in: int
    C_out: int
    stride: int
    height: int
    width: int
    batch: int = 1
    dtype: str = "float32"
    network: str = "eval"

    @property
    def output_size(self) -> tuple[int, int]:
        if self.op == "classifier":
            return 1, 1
        return -(-self.height // self.stride), -(-self.width // self.stride)

    @property
    def is_cell_op(self) -> bool:
        """A candidate op of the search space (not a fixed part of the network)."""
        return self.op not in FIXED_OPS

    @property
    def family(self) -> str:
        """The op's family in the registry (``sep_conv``, ``pool``...), ``fixed`` for the fixed parts."""
        return op_info(self.op).family if self.is_cell_op else "fixed"

    @property
    def kernel_size(self) -> int:
        """Spatial kernel of the op's main conv or pool (0 for ops without one)."""
        if not self.is_cell_op:
            return FIXED_KERNELS.get(self.op, 0)
        if self.family == "skip" and self.stride == 2:
            return 1  # a factorized reduce: two 1x1 convolutions
        return op_info(self.op).kernel

    @property
    def dilation(self) -> int:
        return op_info(self.op).dilation if self.is_cell_op else 1

    def key(self) -> str:
        """A stable text key (the on-disk cache key)."""
        return "|".join(str(v) for v in asdict(self).values())

    def describe(self) -> str:
        return (f"{self.op} {self.C_in}->{self.C_out}ch stride {self.stride} at {self.height}x{self.width}, batch "
                f"{self.batch}, {self.dtype}, {self.network} network")

    def to_dict(self) -> dict:
        return asdict(self)


class _Add(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


class _Concat(nn.Module):
    def __init__(self, parts: int):
        super().__init__()
        self.parts = parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x] * self.parts, dim=1)


def build_module(spec: OpSpec) -> nn.Module:
    """The op of ``spec`` exactly as its network builds it (in eval mode)."""
    affine = spec.network == "eval"
    if spec.op in primitives():
        if spec.C_in != spec.C_out:
            raise ValueError(f"cell op {spec.describe()} must keep its channel count")
        module = build_op(spec.op, spec.C_in, spec.stride, affine)
        if spec.network == "search" and op_info(spec.op).family == "pool":
            module = nn.Sequential(module, nn.BatchNorm2d(spec.C_in, affine=False))
    elif spec.op == "stem":
        module = Stem(spec.C_in, spec.C_out)
    elif spec.op == "relu_conv_bn":
        module = ReLUConvBN(spec.C_in, spec.C_out, 1, 1, 0, affine)
    elif spec.op == "factorized_reduce":
        module = FactorizedReduce(spec.C_in, spec.C_out, affine)
    elif spec.op == "add":
        module = _Add()
    elif spec.op == "concat":
        module = _Concat(spec.C_out // spec.C_in)
    elif spec.op == "classifier":
        module = Classifier(spec.C_in, spec.C_out)
    else:
        raise ValueError(f"unknown op {spec.op!r} in an op spec")
    return module.eval()


def example_input(spec: OpSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random input of the spec's shape and dtype."""
    return torch.randn(spec.batch, spec.C_in, spec.height, spec.width, dtype=getattr(torch, spec.dtype), device=device)
