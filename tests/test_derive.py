"""Derivation on hand-made probabilities: top-2 edges per node, never 'none', the skip rule."""

from __future__ import annotations

import torch

from rapdarts.search.derive import derive_cell, derive_genotype

OPS = ("none", "skip_connect", "sep_conv_3x3")


def _probs(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_none_is_ignored_and_two_strongest_edges_per_node_are_kept():
    candidates = [OPS] * 14
    rows = [[0.1, 0.1, 0.8]] * 14
    rows = [list(r) for r in rows]
    rows[2] = [0.98, 0.01, 0.01]  # node 3 <- 0: 'none' dominates, so this edge is the weakest
    rows[3] = [0.2, 0.1, 0.7]
    rows[4] = [0.1, 0.6, 0.3]
    edges = derive_cell(candidates, _probs(rows))
    assert edges[:2] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))  # node 2 keeps both inputs
    assert edges[2:4] == (("sep_conv_3x3", 1), ("skip_connect", 2))  # node 3: edges 3 (0.7) and 4 (0.6)
    assert all(op != "none" for op, _ in edges)


def test_node_edges_follow_strength_order_of_the_reference():
    candidates = [OPS] * 14
    rows = [[0.0, 0.0, 1.0]] * 14
    rows = [list(r) for r in rows]
    for e, s in zip(range(9, 14), [0.5, 0.9, 0.4, 0.8, 0.3]):  # node 5: inputs 0..4
        rows[e] = [0.0, 1 - s, s] if s > 0.5 else [0.0, s, 1 - s]
    edges = derive_cell(candidates, _probs(rows))
    # strengths per edge = max prob: 0.5, 0.9, 0.6, 0.8, 0.7 -> keep inputs 1 and 3
    assert [src for _, src in edges[6:]] == [1, 3]


def test_skip_rule_demotes_the_weakest_skip_until_two_remain():
    candidates = [OPS] * 14
    rows = [[0.05, 0.9 - 0.01 * e, 0.05 + 0.01 * e] for e in range(14)]
    unconstrained = derive_cell(candidates, _probs(rows))
    assert sum(op == "skip_connect" for op, _ in unconstrained) == 8
    limited = derive_cell(candidates, _probs(rows), max_skip_connects=2)
    skips = [i for i, (op, _) in enumerate(limited) if op == "skip_connect"]
    assert len(skips) == 2
    # the strongest skip-connects survive: node 2's edges 0 and 1 (probabilities 0.90, 0.89)
    assert skips == [0, 1]


def test_skip_rule_binds_only_the_normal_cell():
    candidates = {"normal": [OPS] * 14, "reduce": [OPS] * 14}
    rows = _probs([[0.0, 0.9, 0.1]] * 14)
    genotype = derive_genotype(candidates, {"normal": rows, "reduce": rows}, max_skip_connects=2)
    assert sum(op == "skip_connect" for op, _ in genotype.normal) == 2
    assert all(op == "skip_connect" for op, _ in genotype.reduce)
