"""The repair of a final genotype that ends over budget: least probable changes first, limits kept."""

from __future__ import annotations

import torch

from rapdarts.budget.repair import kept_edges, repair_genotype
from rapdarts.costs import CostProvider, CostTable
from rapdarts.search.derive import derive_genotype
from rapdarts.space.ops import primitives

OPS = tuple(primitives())
CANDIDATES = {cell: tuple(OPS for _ in range(14)) for cell in ("normal", "reduce")}
SEP, MAX, SKIP = OPS.index("sep_conv_3x3"), OPS.index("max_pool_3x3"), OPS.index("skip_connect")


def _setting():
    """Every edge prefers sep_conv_3x3 (cost 10, all else free); the normal cell's edge 0 only weakly."""
    probs = torch.full((14, len(OPS)), 0.05, dtype=torch.float64)
    probs[:, SEP] = 0.6
    normal = probs.clone()
    normal[0, SEP], normal[0, MAX] = 0.3, 0.25
    table = torch.zeros(14, len(OPS))
    table[:, SEP] = 10.0
    costs = CostTable(CostProvider("toy", "units", "", lambda spec: 0.0), {"normal": table, "reduce": table}, 0.0)
    probs = {"normal": normal, "reduce": probs}
    return derive_genotype(CANDIDATES, probs), probs, {"toy": costs}


def test_one_least_probable_change_meets_the_budget():
    genotype, probs, tables = _setting()
    assert [op for op, _ in genotype.normal + genotype.reduce] == ["sep_conv_3x3"] * 16  # cost 160
    repaired, moves = repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": 155.0})
    assert moves == [{"cell": "normal", "from": ["sep_conv_3x3", 0], "to": ["max_pool_3x3", 0]}]
    assert repaired.normal[0] == ("max_pool_3x3", 0) and repaired.normal[1:] == genotype.normal[1:]
    assert repaired.reduce == genotype.reduce


def test_repair_moves_until_every_budget_is_met_and_keeps_the_skip_limit():
    genotype, probs, tables = _setting()
    probs["normal"][:, SKIP] = 0.2  # skip-connect is free and the likeliest replacement everywhere
    repaired, moves = repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": 95.0}, max_skip_connects=2)
    kept = kept_edges(repaired, CANDIDATES)
    cost = sum(10.0 for cell in kept for _, op in kept[cell] if op == SEP)
    assert cost <= 95.0 < cost + 10.0  # no more changes than needed
    assert len(moves) == 7
    assert sum(op == "skip_connect" for op, _ in repaired.normal) <= 2


def test_a_genotype_within_budget_is_left_alone():
    genotype, probs, tables = _setting()
    assert repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": 160.0}) == (genotype, [])
