"""The two steps of a first-order search: each updates its own parameter group and nothing else."""

from __future__ import annotations

import torch

from rapdarts.search.config import SearchConfig
from rapdarts.search.optimizers import SearchOptimizers
from rapdarts.space.ops import primitives
from rapdarts.space.supernet import SearchNetwork

CANDIDATES = tuple(tuple(primitives()) for _ in range(14))


def _setting():
    torch.manual_seed(0)
    model = SearchNetwork(4, 10, 3, CANDIDATES, CANDIDATES, in_channels=1, image_size=(8, 8))  # normal + reduce
    optimizers = SearchOptimizers(model, SearchConfig(device="cpu"))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    return model, optimizers, x, y


def _snapshot(parameters):
    return [p.detach().clone() for p in parameters]


def test_the_alpha_step_leaves_every_weight_untouched():
    model, optimizers, x, y = _setting()
    weights, alphas = _snapshot(model.weight_parameters()), _snapshot(model.arch_parameters())
    parts = optimizers.alpha_step(x, y)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.weight_parameters()))
    assert all(p.grad is None for p in model.weight_parameters())  # not even computed
    assert all(not torch.equal(a, b) for a, b in zip(alphas, model.arch_parameters()))
    assert set(parts) == {"ce"} and all(p.requires_grad for p in model.parameters())  # unfrozen afterwards


def test_the_weight_step_leaves_the_alphas_untouched():
    model, optimizers, x, y = _setting()
    weights, alphas = _snapshot(model.weight_parameters()), _snapshot(model.arch_parameters())
    loss, correct = optimizers.weight_step(x, y)
    assert all(torch.equal(a, b) for a, b in zip(alphas, model.arch_parameters()))
    assert all(p.grad is None for p in model.arch_parameters())
    assert any(not torch.equal(a, b) for a, b in zip(weights, model.weight_parameters()))
    assert loss.requires_grad is False and 0 <= int(correct) <= 8
