"""The evaluation network rebuilds the published models exactly."""

from __future__ import annotations

import pytest
import torch

from rapdarts.space.genotype import preset
from rapdarts.space.network import EvalNetwork, count_parameters, drop_path


@pytest.mark.parametrize("name, expected", [
    # DARTS' own train.py logs "param size = 3.349342MB" for DARTS_V2 (C=36, 20 cells, CIFAR-10).
    ("DARTS_V2", 3_349_342),
    # P-DARTS quotes 3.4M; this is the count of its NetworkCIFAR (identical macro layout).
    ("PDARTS", 3_433_798),
])
def test_published_parameter_counts(name, expected):
    count = count_parameters(EvalNetwork(preset(name)))
    assert count.without_auxiliary == expected
    assert count.total > count.without_auxiliary


def test_auxiliary_logits_only_while_training():
    net = EvalNetwork(preset("PDARTS"), init_channels=8, cells=5)
    x = torch.randn(2, 3, 32, 32)
    logits, aux = net.train()(x)
    assert logits.shape == (2, 10) and aux.shape == (2, 10)
    logits, aux = net.eval()(x)
    assert aux is None


def test_small_inputs_work_with_the_auxiliary_head():
    net = EvalNetwork(preset("DARTS_V2"), init_channels=4, cells=5, in_channels=1, image_size=(8, 8)).train()
    logits, aux = net(torch.randn(2, 1, 8, 8))
    assert aux.shape == (2, 10)


def test_drop_path_zeroes_whole_samples_and_keeps_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(20000, 1, 1, 1)
    out = drop_path(x, 0.3)
    kept = out.flatten()[out.flatten() != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.7))
    assert abs(out.mean().item() - 1.0) < 0.02
    assert torch.equal(drop_path(x, 0.0), x)
