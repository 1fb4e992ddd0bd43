"""The DARTS search space's primitive operations and the one registry that names them.

Both the search network (every BN non-affine) and the evaluation network (affine BNs) build their
ops through :func:`build_op`, so a genotype found by search rebuilds exactly the op it was scored
with. Definitions follow DARTS (Liu et al., ICLR 2019) and P-DARTS (Chen et al., ICCV 2019), as
their authors' code defines them:

* ``sep_conv_kxk``: [ReLU, depthwise kxk (stride s), pointwise 1x1, BN] twice, stride in the first.
* ``dil_conv_kxk``: ReLU, depthwise kxk with dilation 2 (stride s), pointwise 1x1, BN.
* ``skip_connect``: identity, or :class:`FactorizedReduce` at stride 2.
* pools: 3x3, padding 1; average pooling excludes padding from the mean.
* ``none``: zeros of the output shape.

Convolutions never have a bias. All ops keep the channel count ``C`` and map an ``H x W`` input
to ``H x W`` at stride 1 and ``ceil(H/2) x ceil(W/2)`` at stride 2.

The registry also holds each op's facts (:class:`OpInfo`: its family, kernel, dilation and short
name), so code that needs to know whether an op is a pool or how large its kernel is asks
:func:`op_info` instead of parsing the name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rapdarts.errors import RapdartsError

OpBuilder = Callable[[int, int, bool], nn.Module]
"""``builder(C, stride, affine) -> module``."""

FAMILIES = ("none", "pool", "skip", "sep_conv", "dil_conv", "other")
"""Kinds of op: ``pool`` ops are followed by a non-affine BN in the search network (DARTS ``MixedOp``)."""


@dataclass(frozen=True)
class OpInfo:
    """A registered op: its builder and the facts other code needs without building it."""

    name: str
    builder: OpBuilder
    family: str = "other"
    kernel: int = 0
    """Spatial kernel of the op's main convolution or pool (0 for ops without one)."""
    dilation: int = 1
    short: str = ""
    """A short name for tables (``sep3``); defaults to the name."""

    @property
    def label(self) -> str:
        return self.short or self.name


_REGISTRY: dict[str, OpInfo] = {}


def register_op(name: str, family: str = "other", kernel: int = 0, dilation: int = 1,
                short: str = "") -> Callable[[OpBuilder], OpBuilder]:
    """Decorator adding ``builder`` to the registry under ``name`` with its facts; warns when replacing one."""
    if family not in FAMILIES:
        raise ValueError(f"op family {family!r}: choose one of {', '.join(FAMILIES)}")

    def decorate(builder: OpBuilder) -> OpBuilder:
        if name in _REGISTRY:
            warnings.warn(f"op {name!r} is already registered; replacing it", stacklevel=2)
        _REGISTRY[name] = OpInfo(name, builder, family, kernel, dilation, short)
        return builder

    return decorate


def op_info(name: str) -> OpInfo:
    """The registry entry of op ``name`` (a one-line error naming the known ops if there is none)."""
    check_op_names([name], "the op registry lookup")
    return _REGISTRY[name]


def primitives() -> tuple[str, ...]:
    """All registered op names, in registration order (the DARTS ``PRIMITIVES`` order)."""
    return tuple(_REGISTRY)


def check_op_names(names: object, where: str) -> None:
    """Raise a one-line error if any of ``names`` is not a registered op."""
    unknown = [name for name in names if name not in _REGISTRY]  # type: ignore[attr-defined]
    if unknown:
        raise RapdartsError(
            f"unknown op {unknown[0]!r} in {where}; known ops: {', '.join(primitives())}"
        )


ZERO = "none"
"""The zero op: a mixed op weights it like any other, but no derived network contains it, so it never runs."""
SKIP = "skip_connect"
"""The op the P-DARTS skip-connect rule counts (an identity at stride 1)."""


def is_zero(name: str) -> bool:
    """Whether ``name`` is the zero op (family ``none``): derivation never picks it and it costs nothing."""
    info = _REGISTRY.get(name)
    return info is not None and info.family == "none"


def derivable(ops: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """The ops a derived genotype may contain: ``ops`` (default: every registered op) without the zero op."""
    return [op for op in (ops if ops is not None else primitives()) if not is_zero(op)]


def build_op(name: str, C: int, stride: int, affine: bool) -> nn.Module:
    """Instantiate the registered op ``name`` for ``C`` channels."""
    return op_info(name).builder(C, stride, affine)


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the op's output (stride-aware)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Stem(nn.Sequential):
    """A 3x3 conv ``C_in -> C_out`` and a BN (always affine): the first layer of both networks (DARTS)."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__(nn.Conv2d(C_in, C_out, 3, padding=1, bias=False), nn.BatchNorm2d(C_out))


class Classifier(nn.Linear):
    """Global average pooling, then a linear layer to the classes: the head of both networks.

    A :class:`~torch.nn.Linear` whose input is pooled first, so its parameters are named like the linear
    layer the DARTS networks have (``classifier.weight``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ReLUConvBN(nn.Sequential):
    """ReLU, ``k x k`` conv, BN: the cell-input preprocessing of DARTS."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise (dilated) conv, pointwise conv, BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable blocks; only the first is strided.

    The second block's ReLU runs in place on the first block's BN output: BN's backward needs
    its input, not its output, so this is safe and saves one activation per op.
    """

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in,
                      bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=True),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs, the second on the input shifted by one.

    ``C_out`` is split between the two convs (``C_out // 2`` and the rest), which for the even
    channel counts of every published configuration is the DARTS split. On odd input sizes the
    shifted input is zero-padded by one so that both halves agree on ``ceil(H/2)``; on even
    sizes this is exactly the DARTS ``x[:, :, 1:, 1:]``.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_activated(self.relu(x))

    def from_activated(self, x: torch.Tensor) -> torch.Tensor:
        """The op after its ReLU, for callers that share one ``relu(x)`` between several ops."""
        shifted = x[:, :, 1:, 1:]
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            shifted = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


# Registration order is the DARTS PRIMITIVES order; primitives() derives the list from it.
register_op(ZERO, "none", short="none")(lambda C, stride, affine: Zero(stride))
register_op("max_pool_3x3", "pool", 3, short="max")(lambda C, stride, affine: nn.MaxPool2d(3, stride=stride,
                                                                                          padding=1))
register_op("avg_pool_3x3", "pool", 3, short="avg")(
    lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
)
register_op(SKIP, "skip", short="skip")(
    lambda C, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)
)
register_op("sep_conv_3x3", "sep_conv", 3, short="sep3")(lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine))
register_op("sep_conv_5x5", "sep_conv", 5, short="sep5")(lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine))
register_op("dil_conv_3x3", "dil_conv", 3, 2, short="dil3")(
    lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine))
register_op("dil_conv_5x5", "dil_conv", 5, 2, short="dil5")(
    lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine))
