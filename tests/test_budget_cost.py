"""The derivation-aware expected cost, the derived cost read from tables, and the search-space floor."""

from __future__ import annotations

import pytest
import torch

from rapdarts.budget.derived_cost import (
    cell_expected_cost,
    derived_cost,
    derived_expected_cost,
    extreme_cost,
    selectable_ops,
    top2_probability,
)
from rapdarts.costs import CostCache, CostProvider, CostTable, TargetNetwork, expected_cost, genotype_costs
from rapdarts.data import DataShape
from rapdarts.plugins.manager import discover_providers
from rapdarts.search.derive import derive_genotype
from rapdarts.space.layout import node_edges
from rapdarts.space.ops import primitives

OPS = tuple(primitives())
CANDIDATES = {cell: tuple(OPS for _ in range(14)) for cell in ("normal", "reduce")}
PROVIDER = CostProvider("toy", "units", "hand-made", lambda spec: 0.0)


def _hand_made() -> tuple[dict[str, torch.Tensor], CostTable]:
    """Edge e's only costly op is sep_conv_3x3, costing 10 (e + 1); it is every edge's favourite,
    and later edges are stronger, so each node keeps its last two edges."""
    sep = OPS.index("sep_conv_3x3")
    table = torch.zeros(14, len(OPS), dtype=torch.float64)
    table[:, sep] = torch.tensor([10.0 * (e + 1) for e in range(14)])
    alpha = torch.zeros(14, len(OPS), dtype=torch.float64)
    alpha[:, sep] = torch.linspace(1.0, 3.0, 14, dtype=torch.float64)
    return {"normal": alpha, "reduce": alpha.clone()}, CostTable(PROVIDER, {"normal": table, "reduce": table}, 100.0)


def test_derivation_aware_cost_predicts_the_eight_kept_edges_not_all_fourteen():
    alphas, table = _hand_made()
    kept = [0, 1, 3, 4, 7, 8, 12, 13]  # the two strongest (last) incoming edges of nodes 2..5
    exact = 100.0 + 2 * sum(10.0 * (e + 1) for e in kept)  # 100 + 2 * 560 = 1220
    assert exact == 1220.0
    assert derived_cost(alphas, table, CANDIDATES) == exact
    p = torch.softmax(alphas["normal"], -1)[:, OPS.index("sep_conv_3x3")]
    plain = 100.0 + 2 * sum(float(p[e]) * 10.0 * (e + 1) for e in range(14))  # all 14 edges, weighted by p
    assert float(expected_cost(alphas, table)) == pytest.approx(plain)
    predicted = float(derived_expected_cost(alphas, table, CANDIDATES, tau=0.1))
    assert abs(predicted - exact) < 0.01 * exact
    assert abs(predicted - exact) < abs(plain - exact) / 10


def test_prediction_tracks_derived_params_better_than_the_plain_expectation():
    """On random alphas of any scale, with the real params costs, the skip rule and 'none'."""
    params = discover_providers().get("params")
    target = TargetNetwork()
    cache = CostCache(use_disk=False)
    table = CostTable.build(params, target, CANDIDATES, cache)
    generator = torch.Generator().manual_seed(0)
    plain_errors, predicted_errors = [], []
    for trial in range(12):
        scale = (0.001, 0.1, 1.0)[trial % 3]
        alphas = {cell: scale * torch.randn(14, len(OPS), generator=generator) for cell in CANDIDATES}
        genotype = derive_genotype(CANDIDATES, {c: a.softmax(-1) for c, a in alphas.items()})
        actual = genotype_costs(genotype, [params], target, cache)["params"]
        assert derived_cost(alphas, table, CANDIDATES) == actual
        plain_errors.append(abs(float(expected_cost(alphas, table)) / actual - 1))
        predicted_errors.append(abs(float(derived_expected_cost(alphas, table, CANDIDATES, 0.1)) / actual - 1))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert mean(predicted_errors) < 0.06 < 0.2 < mean(plain_errors)


def test_skip_rule_and_none_are_followed():
    """Three edges favour skip-connect: derivation demotes the weakest, and so does the predictor."""
    skip, sep, none = OPS.index("skip_connect"), OPS.index("sep_conv_3x3"), OPS.index("none")
    alpha = torch.zeros(14, len(OPS))
    alpha[:, none] = 5.0  # 'none' dominates everywhere but is never derived
    alpha[:, sep] = 1.0
    for edge in (0, 1, 3):
        alpha[edge, skip] = 2.0 + edge / 10
    allowed = selectable_ops(CANDIDATES["normal"], alpha.softmax(-1), max_skip_connects=2)
    assert not allowed[:, none].any()
    assert [e for e in range(14) if not allowed[e, skip]] == [0]  # the weakest kept skip is demoted
    table = torch.zeros(14, len(OPS))
    table[:, sep] = 1.0  # the predicted cost counts kept sep_conv_3x3 edges
    cost = float(cell_expected_cost(alpha, table, allowed, 0.1))
    genotype = derive_genotype(CANDIDATES, {"normal": alpha.softmax(-1), "reduce": alpha.softmax(-1)})
    assert [op for op, _ in genotype.normal].count("sep_conv_3x3") == 6
    assert cost == pytest.approx(6.0, abs=0.05)


def test_top2_probability_is_plackett_luce():
    z = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    w = z.exp()
    W = w.sum()
    by_hand = [float(w[e] / W + sum(w[j] / W * w[e] / (W - w[j]) for j in range(3) if j != e)) for e in range(3)]
    assert top2_probability(z).tolist() == pytest.approx(by_hand)
    assert float(top2_probability(torch.randn(5)).sum()) == pytest.approx(2.0)
    assert top2_probability(torch.tensor([3.0, -7.0])).tolist() == [1.0, 1.0]  # the first node keeps both


def test_keep_probabilities_sum_to_two_per_node():
    """Each node keeps two edges, so the keep probabilities of its incoming edges sum to exactly two."""
    assert [len(edges) for edges in node_edges()] == [2, 3, 4, 5]
    generator = torch.Generator().manual_seed(3)
    z = torch.randn(14, dtype=torch.float64, generator=generator)
    for edges in node_edges():
        keep = top2_probability(z[list(edges)])
        assert float(keep.sum()) == pytest.approx(2.0) and bool(((0 <= keep) & (keep <= 1)).all())


def test_gradients_match_finite_differences():
    generator = torch.Generator().manual_seed(1)
    alpha = torch.randn(14, len(OPS), dtype=torch.float64, generator=generator).requires_grad_()
    table = 10 * torch.rand(14, len(OPS), dtype=torch.float64, generator=generator)
    allowed = selectable_ops(CANDIDATES["normal"], alpha.detach().softmax(-1), max_skip_connects=2)
    assert torch.autograd.gradcheck(lambda a: cell_expected_cost(a, table, allowed, 0.5, relative=False), (alpha,))
    z = torch.randn(5, dtype=torch.float64, generator=generator).requires_grad_()
    assert torch.autograd.gradcheck(top2_probability, (z,))


def test_floor_and_ceiling_are_the_cheapest_and_dearest_derivable_genotypes():
    _, table = _hand_made()
    assert extreme_cost(table, CANDIDATES) == 100.0  # pools cost nothing here: the fixed part alone
    assert extreme_cost(table, CANDIDATES, cheapest=False) == 1220.0  # the two dearest edges per node
    costs = torch.full((14, len(OPS)), 3.0)
    costs[:, OPS.index("skip_connect")] = 0.0
    costs[:, OPS.index("none")] = 0.0
    skips = CostTable(PROVIDER, {"normal": costs, "reduce": costs}, 7.0)
    # Normal cell: at most two free skip-connects, six edges at 3; reduction cell: all eight free.
    assert extreme_cost(skips, CANDIDATES, max_skip_connects=2) == 7.0 + 6 * 3.0
    assert extreme_cost(skips, CANDIDATES, max_skip_connects=None) == 7.0


def test_params_floor_is_the_parameter_count_of_an_all_pooling_network():
    from rapdarts.space.genotype import Genotype
    from rapdarts.space.network import EvalNetwork, count_parameters

    params = discover_providers().get("params")
    target = TargetNetwork(DataShape(10, 1, (8, 8)))  # the digits dataset's evaluation network
    table = CostTable.build(params, target, CANDIDATES, CostCache(use_disk=False))
    pools = tuple(("max_pool_3x3", i) for i in (0, 1, 0, 1, 0, 1, 0, 1))
    network = EvalNetwork(Genotype(pools, (2, 3, 4, 5), pools, (2, 3, 4, 5)), 36, 10, 20, auxiliary=False,
                          in_channels=1, image_size=(8, 8))
    assert extreme_cost(table, CANDIDATES) == count_parameters(network).without_auxiliary == 1_368_190


def test_value_tracks_derivation_while_the_gradient_is_the_smooth_relaxation():
    """Straight-through: the value is the scale-free prediction, the gradient that of temperature 1."""
    generator = torch.Generator().manual_seed(2)
    alphas = {cell: (1e-3 * torch.randn(14, len(OPS), dtype=torch.float64, generator=generator)).requires_grad_()
              for cell in CANDIDATES}
    _, table = _hand_made()
    combined = derived_expected_cost(alphas, table, CANDIDATES, tau=0.1)
    value_only = derived_expected_cost({c: a.detach() for c, a in alphas.items()}, table, CANDIDATES, 0.1,
                                       grad_tau=None)
    assert float(combined.detach()) == float(value_only)
    combined.backward()
    for cell, alpha in alphas.items():
        leaf = alpha.detach().clone().requires_grad_()
        allowed = selectable_ops(CANDIDATES[cell], leaf.detach().softmax(-1), max_skip_connects=2 if cell == "normal"
                                 else None)
        cell_expected_cost(leaf, table.tables[cell], allowed, 1.0, relative=False).backward()
        assert torch.allclose(alpha.grad, leaf.grad)
        assert alpha.grad.abs().max() < 10.0  # bounded although the alphas are ~1e-3
