"""The search network: mixed-op maths, recomputation equivalence, shapes and parameter groups."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rapdarts.space.ops import primitives
from rapdarts.space.supernet import MixedOp, SearchNetwork, SubsampledDilatedConv

ALL = tuple(primitives())


def _all_candidates(names=ALL):
    return tuple(names for _ in range(14))


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_is_the_softmax_weighted_sum_of_its_ops(stride):
    torch.manual_seed(0)
    mixed = MixedOp(4, stride, ALL).eval()
    x = torch.randn(3, 4, 8, 8)
    weights = F.softmax(torch.randn(len(ALL)), dim=0)
    evaluated = dict(zip([ALL[p] for p in mixed.positions], mixed.ops))
    expected = torch.zeros(3, 4, 8 // stride, 8 // stride)
    for name, w in zip(ALL, weights):
        out = x[:, :, ::stride, ::stride] * 0.0 if name == "none" else evaluated[name](x)
        expected = expected + w * out
    assert torch.allclose(mixed(x, weights), expected, atol=1e-6)
    assert "none" not in [ALL[p] for p in mixed.positions]  # never evaluated: its term is exactly zero


def test_recompute_gives_identical_outputs_gradients_and_running_stats():
    torch.manual_seed(0)
    plain = SearchNetwork(4, 10, 3, _all_candidates(), _all_candidates(), in_channels=1, image_size=(8, 8))
    lean = SearchNetwork(4, 10, 3, _all_candidates(), _all_candidates(), in_channels=1, image_size=(8, 8))
    lean.load_state_dict(plain.state_dict())
    plain.set_recompute(False)
    lean.set_recompute(True)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for model in (plain, lean):
        model.set_skip_dropout(0.3)
        torch.manual_seed(1)
        F.cross_entropy(model(x), y).backward()
    for (name, a), b in zip(plain.named_parameters(), lean.parameters()):
        assert torch.equal(a.grad, b.grad), name
    for (name, a), b in zip(plain.named_buffers(), lean.buffers()):
        assert torch.equal(a, b), name  # BN statistics updated once, not twice


def test_network_output_shape_and_parameter_groups():
    net = SearchNetwork(4, 7, 5, _all_candidates(), _all_candidates(), in_channels=3, image_size=(16, 16))
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    assert net.alphas_normal.shape == (14, 8) and net.alphas_reduce.shape == (14, 8)
    weight_ids = {id(p) for p in net.weight_parameters()}
    assert not weight_ids & {id(p) for p in net.arch_parameters()}
    assert len(weight_ids) + 2 == len(list(net.parameters()))
    assert [cell.spec.reduction for cell in net.cells] == [False, True, False, True, False]


def test_pruned_candidates_build_smaller_edges():
    three = tuple(("skip_connect", "sep_conv_3x3", "max_pool_3x3") for _ in range(14))
    net = SearchNetwork(4, 10, 3, three, three, in_channels=1, image_size=(8, 8))
    assert net.alphas_normal.shape == (14, 3)
    assert all(len(m.ops) == 3 for m in net.modules() if isinstance(m, MixedOp))


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("size", [8, 9])
def test_subsampled_dilated_conv_is_the_strided_dilated_conv(kernel, size):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, kernel, 2, kernel - 1, 2, groups=4, bias=False)
    fast = SubsampledDilatedConv.sharing(conv)
    assert fast.weight is conv.weight  # one parameter: the optimiser and state dict see no change
    x = torch.randn(2, 4, size, size, requires_grad=True)
    slow_out, fast_out = conv(x), fast(x)
    assert torch.equal(slow_out, fast_out)
    grad = torch.randn_like(slow_out)
    slow_grads = torch.autograd.grad(slow_out, (x, conv.weight), grad)
    fast_grads = torch.autograd.grad(fast_out, (x, fast.weight), grad)
    for slow, quick in zip(slow_grads, fast_grads):
        assert torch.allclose(slow, quick, atol=1e-5)


def test_fast_dilated_network_has_the_same_parameters_and_outputs():
    torch.manual_seed(0)
    plain = SearchNetwork(4, 10, 3, _all_candidates(), _all_candidates(), in_channels=1, image_size=(8, 8))
    fast = SearchNetwork(4, 10, 3, _all_candidates(), _all_candidates(), in_channels=1, image_size=(8, 8),
                         fast_dilated=True)
    assert plain.state_dict().keys() == fast.state_dict().keys()  # checkpoints load either way
    fast.load_state_dict(plain.state_dict())
    replaced = [m for m in fast.modules() if isinstance(m, SubsampledDilatedConv)]
    reductions = sum(cell.spec.reduction for cell in fast.cells)
    strided_edges = 2 * 4  # in a reduction cell, each of the 4 nodes reads both cell inputs with stride 2
    assert len(replaced) == reductions * strided_edges * 2  # dil_conv_3x3 and dil_conv_5x5 on each
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(plain.eval()(x), fast.eval()(x))


def test_memory_budget_recomputes_the_largest_cells_first():
    net = SearchNetwork(4, 10, 5, _all_candidates(), _all_candidates(), in_channels=3, image_size=(16, 16))
    sizes = [cell.activation_bytes(8) for cell in net.cells]
    assert sizes[0] > sizes[-1] > 0  # later cells hold smaller maps
    assert net.plan_recompute(sum(sizes), 8) == [False] * 5  # everything fits: nothing recomputed
    assert net.plan_recompute(0, 8) == [True] * 5
    plan = net.plan_recompute(sum(sizes) - 1, 8)
    assert plan == [i == max(range(5), key=sizes.__getitem__) for i in range(5)]
    kept = sum(size for size, on in zip(sizes, plan) if not on)
    assert kept <= sum(sizes) - 1
    recomputing = [m.recompute for m in net.cells[plan.index(True)].modules() if isinstance(m, MixedOp)]
    assert recomputing and all(recomputing)
