"""Every registered op: output shapes and parameter counts against their analytic formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rapdarts.errors import RapdartsError
from rapdarts.space.ops import FactorizedReduce, build_op, op_info, primitives, register_op


def expected_params(name: str, C: int, stride: int, affine: bool) -> int:
    """Formulas from shared/reference/pdarts-facts.md; an affine BN adds 2C."""
    bn = 2 * C if affine else 0
    if name in ("none", "max_pool_3x3", "avg_pool_3x3"):
        return 0
    if name == "skip_connect":
        return 0 if stride == 1 else C * C + bn
    k = op_info(name).kernel
    if name.startswith("sep_conv"):
        return 2 * (k * k * C + C * C) + 2 * bn
    if name.startswith("dil_conv"):
        return k * k * C + C * C + bn
    raise AssertionError(f"no formula for {name}")


def test_primitives_are_the_darts_eight_in_order():
    assert primitives() == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                            "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


@pytest.mark.parametrize("name", primitives())
@pytest.mark.parametrize("size", [8, 7])
def test_shapes_kept_at_stride_1_and_halved_at_stride_2(name, size):
    x = torch.randn(2, 6, size, size)
    assert build_op(name, 6, 1, True)(x).shape == (2, 6, size, size)
    half = math.ceil(size / 2)
    assert build_op(name, 6, 2, True)(x).shape == (2, 6, half, half)


@pytest.mark.parametrize("name", primitives())
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("affine", [True, False])
def test_parameter_counts_match_formulas(name, stride, affine):
    op = build_op(name, 16, stride, affine)
    assert sum(p.numel() for p in op.parameters()) == expected_params(name, 16, stride, affine)


def test_none_is_zero_and_skip_is_identity():
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(build_op("none", 4, 1, False)(x), torch.zeros_like(x))
    assert torch.equal(build_op("skip_connect", 4, 1, False)(x), x)


def test_factorized_reduce_matches_the_darts_slicing_on_even_inputs():
    torch.manual_seed(0)
    op = FactorizedReduce(4, 6, affine=False).eval()
    x = torch.randn(2, 4, 8, 8)
    relu = torch.relu(x)
    reference = op.bn(torch.cat([op.conv_1(relu), op.conv_2(relu[:, :, 1:, 1:])], dim=1))
    assert torch.allclose(op(x), reference)


def test_search_ops_have_no_affine_bn_and_convs_no_bias():
    for name in primitives():
        for module in build_op(name, 8, 2, affine=False).modules():
            if isinstance(module, nn.BatchNorm2d):
                assert not module.affine
            if isinstance(module, nn.Conv2d):
                assert module.bias is None


def test_unknown_op_names_the_known_ones():
    with pytest.raises(RapdartsError, match="unknown op 'conv_9x9'.*sep_conv_3x3"):
        build_op("conv_9x9", 8, 1, True)


def test_re_registering_an_op_warns():
    info = op_info("avg_pool_3x3")
    with pytest.warns(UserWarning, match="already registered"):
        register_op("avg_pool_3x3", info.family, info.kernel, info.dilation, info.short)(info.builder)
    assert primitives()[2] == "avg_pool_3x3" and op_info("avg_pool_3x3") == info
