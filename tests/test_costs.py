"""Cost providers, tables and the expected cost: identities that can be checked by hand."""

from __future__ import annotations

import pytest
import torch

from rapdarts.costs import (
    CostCache,
    CostProvider,
    CostTable,
    OpSpec,
    TargetNetwork,
    build_module,
    expected_cost,
    genotype_costs,
)
from rapdarts.costs.flops import count_flops
from rapdarts.costs.params import parameter_count
from rapdarts.costs.spec import FIXED_OPS
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.plugins.manager import discover_providers
from rapdarts.space.genotype import preset, preset_names
from rapdarts.space.network import count_parameters
from rapdarts.space.ops import primitives

CELL_SPECS = [OpSpec(op, 12, 12, stride, 8, 8, network=network)
              for op in primitives() for stride in (1, 2) for network in ("eval", "search")]
FIXED_SPECS = [OpSpec("stem", 3, 48, 1, 8, 8), OpSpec("relu_conv_bn", 48, 16, 1, 8, 8),
               OpSpec("relu_conv_bn", 48, 16, 1, 8, 8, network="search"), OpSpec("factorized_reduce", 64, 32, 2, 8, 8),
               OpSpec("add", 16, 16, 1, 8, 8), OpSpec("concat", 16, 64, 1, 8, 8),
               OpSpec("classifier", 256, 10, 1, 2, 2)]


def test_fixed_specs_cover_every_fixed_op():
    assert {spec.op for spec in FIXED_SPECS} == set(FIXED_OPS)


@pytest.mark.parametrize("spec", CELL_SPECS + FIXED_SPECS, ids=lambda s: f"{s.op}-s{s.stride}-{s.network}")
def test_analytic_params_equal_the_instantiated_module(spec):
    assert parameter_count(spec) == sum(p.numel() for p in build_module(spec).parameters())


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("target", [TargetNetwork(), TargetNetwork(DataShape(10, 1, (8, 8)), 16, 8)],
                         ids=["cifar", "digits"])
def test_genotype_costs_equal_whole_network_counts(name, target):
    """Op-by-op sums equal counting the whole built network: the layout and specs are right."""
    providers = discover_providers().select(["params", "flops"])
    costs = genotype_costs(preset(name), providers, target, CostCache(use_disk=False))
    network = target.build(preset(name)).eval()
    assert costs["params"] == count_parameters(network).without_auxiliary
    example = torch.randn(1, target.in_channels, *target.image_size)
    assert costs["flops"] == count_flops(network, example)


def test_flops_convention_is_one_per_multiply_add():
    k, C, H = 3, 8, 6
    sep = OpSpec("sep_conv_3x3", C, C, 1, H, H, network="search")
    pixels = H * H
    conv_macs = 2 * (k * k * C + C * C) * pixels
    bn = 2 * C * pixels  # two non-affine BNs, one flop per element
    assert count_flops(build_module(sep), torch.randn(1, C, H, H)) == conv_macs + bn
    pool = OpSpec("max_pool_3x3", C, C, 2, H, H)
    assert count_flops(build_module(pool), torch.randn(1, C, H, H)) == C * 3 * 3 * 9  # outputs x window


def test_expected_cost_with_hand_checkable_numbers():
    """NNI's example: costs 9k, 25k, 49k at probabilities 0.2, 0.3, 0.5 give 33,800."""
    provider = CostProvider("x", "u", "d", lambda spec: 0.0)
    probs = torch.tensor([[0.2, 0.3, 0.5]])
    table = CostTable(provider, {"normal": torch.tensor([[9000.0, 25000.0, 49000.0]]),
                                 "reduce": torch.zeros(1, 3)}, fixed=100.0)
    alphas = {"normal": probs.log(), "reduce": torch.zeros(1, 3)}
    assert expected_cost(alphas, table).item() == pytest.approx(33_800 + 100)


def test_expected_cost_gradient_is_equation_8():
    torch.manual_seed(0)
    costs = torch.rand(14, 5) * 1000
    table = CostTable(CostProvider("x", "u", "d", lambda s: 0.0), {"normal": costs, "reduce": costs * 2}, 7.0)
    alphas = {cell: torch.randn(14, 5, dtype=torch.float64, requires_grad=True) for cell in ("normal", "reduce")}
    expected_cost(alphas, table).backward()
    for cell, scale in (("normal", 1.0), ("reduce", 2.0)):
        p = torch.softmax(alphas[cell].detach(), dim=-1)
        c = costs.double() * scale
        # sum_l c_l p_l (delta_il - p_i) = p_i (c_i - sum_l p_l c_l)
        analytic = torch.einsum("el,el,eli->ei", c, p, torch.eye(5, dtype=torch.float64)[None] - p[:, None, :])
        assert torch.allclose(alphas[cell].grad, analytic)
        assert torch.allclose(analytic, p * (c - (p * c).sum(-1, keepdim=True)))


def test_cost_table_sums_each_edge_over_the_cells_of_its_type():
    provider = discover_providers().get("params")
    target = TargetNetwork(DataShape(10, 1, (8, 8)), init_channels=8, cells=5)
    candidates = {cell: [("none", "sep_conv_3x3", "skip_connect")] * 14 for cell in ("normal", "reduce")}
    table = CostTable.build(provider, target, candidates, CostCache(use_disk=False))
    assert table.tables["normal"].shape == (14, 3)
    # normal cells 0, 2, 4 have C = 8, 16, 32: sep_conv_3x3 params 2 (9C + C^2) + 4C each
    assert table.tables["normal"][0, 1] == sum(2 * (9 * C + C * C) + 4 * C for C in (8, 16, 32))
    # reduce cells 1, 3 (C = 16, 32): skip on an input edge is a factorized reduce, C^2 + 2C
    assert table.tables["reduce"][0, 2] == sum(C * C + 2 * C for C in (16, 32))
    assert table.tables["reduce"][2 + 2, 2] == 0  # edge 4 leaves node 2: identity
    assert table.tables["normal"][:, 0].abs().sum() == 0


def test_costs_are_cached_on_disk_per_provider_version(tmp_path):
    calls = []

    def counting(spec):
        calls.append(spec)
        return float(spec.C_in)

    provider = CostProvider("counting", "u", "d", counting, version="1")
    specs = [OpSpec("sep_conv_3x3", c, c, 1, 4, 4) for c in (4, 8, 8)]
    first = CostCache(tmp_path)
    assert first.costs(provider, specs) == [4.0, 8.0, 8.0] and len(calls) == 2
    first.flush([provider])
    assert CostCache(tmp_path).costs(provider, specs) == [4.0, 8.0, 8.0] and len(calls) == 2
    CostCache(tmp_path).costs(CostProvider("counting", "u", "d", counting, version="2"), specs)
    assert len(calls) == 4


@pytest.mark.parametrize("value, message", [
    (float("nan"), "returned nan"), (float("inf"), "returned inf"), (-1.0, "returned -1.0"), ("x", "returned 'x'"),
])
def test_bad_provider_values_are_one_line_errors(value, message):
    provider = CostProvider("bad", "u", "d", lambda spec: value, plugin="badplugin", package="bad-costs 1.2")
    with pytest.raises(RapdartsError, match=message) as info:
        CostCache(use_disk=False).cost(provider, OpSpec("sep_conv_3x3", 4, 4, 1, 4, 4))
    text = str(info.value)
    assert "'badplugin' from package 'bad-costs 1.2'" in text and "--block-plugin badplugin" in text
    assert "\n" not in text


def test_raising_provider_names_the_plugin_and_the_spec():
    def broken(spec):
        raise ZeroDivisionError("oops")

    provider = CostProvider("bad", "u", "d", broken, plugin="p", package="q 1")
    with pytest.raises(RapdartsError, match="raised ZeroDivisionError: oops for sep_conv_3x3 4->4ch"):
        CostCache(use_disk=False).cost(provider, OpSpec("sep_conv_3x3", 4, 4, 1, 4, 4))
