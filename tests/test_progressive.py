"""Stage transitions: pruning by alpha rank, the dropout schedule and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch

from rapdarts.runtime.schedules import cosine_lr
from rapdarts.search.stages import prune_candidates, skip_dropout_rate

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
       "dil_conv_5x5")


def test_pruning_keeps_the_most_probable_ops_in_original_order():
    probs = torch.tensor([[0.30, 0.05, 0.10, 0.20, 0.15, 0.06, 0.07, 0.07]])
    assert prune_candidates([OPS], probs, 5) == (("none", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                                                  "dil_conv_5x5"),)
    # ties drop the earlier op (dil_conv_3x3 and dil_conv_5x5 tie at 0.07)


def test_pruning_is_per_edge_and_repeatable_across_stages():
    probs = torch.eye(8)[:2] * 0.5 + 0.0625
    first = prune_candidates([OPS, OPS], probs, 5)
    assert first[0][0] == "none" and first[1][0] == "max_pool_3x3"
    second = prune_candidates(first, torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15]] * 2), 3)
    assert second[0] == (first[0][1], first[0][2], first[0][3])


@pytest.mark.parametrize("epoch, expected", [
    (0, 0.4 * 24 / 25), (9, 0.4 * 15 / 25), (10, 0.4), (15, 0.4 * math.exp(-1.0)),
])
def test_skip_dropout_schedule_matches_the_reference(epoch, expected):
    assert skip_dropout_rate(0.4, epoch, 25, 10) == pytest.approx(expected)


def test_cosine_schedule_endpoints():
    assert cosine_lr(0.025, 0.0, 0, 25) == pytest.approx(0.025)
    assert cosine_lr(0.025, 0.001, 25, 25) == pytest.approx(0.001)
    assert cosine_lr(0.025, 0.0, 12.5, 25) == pytest.approx(0.0125)
