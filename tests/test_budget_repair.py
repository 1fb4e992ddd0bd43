"""The repair of a final genotype: into every budget's band, most probable first, skip limit kept."""

from __future__ import annotations

import math

import torch

from rapdarts.budget.repair import Band, in_band, repair_genotype
from rapdarts.costs import CostProvider, CostTable
from rapdarts.search.derive import derive_genotype
from rapdarts.space.ops import primitives

OPS = tuple(primitives())
CANDIDATES = {cell: tuple(OPS for _ in range(14)) for cell in ("normal", "reduce")}
SEP, DIL, MAX, SKIP = (OPS.index(name) for name in ("sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "skip_connect"))


def _table(name: str, op: int, cost: float) -> CostTable:
    """Op ``op`` costs ``cost`` on every edge of both cells; everything else is free."""
    table = torch.zeros(14, len(OPS), dtype=torch.float64)
    table[:, op] = cost
    return CostTable(CostProvider(name, "units", "", lambda spec: 0.0), {"normal": table, "reduce": table}, 0.0)


def _setting():
    """Every edge prefers sep_conv_3x3 (cost 10, all else free); the normal cell's edge 0 only weakly."""
    probs = torch.full((14, len(OPS)), 0.05, dtype=torch.float64)
    probs[:, SEP] = 0.6
    normal = probs.clone()
    normal[0, SEP], normal[0, MAX] = 0.3, 0.25
    probs = {"normal": normal, "reduce": probs}
    return derive_genotype(CANDIDATES, probs), probs, {"toy": _table("toy", SEP, 10.0)}


def _ops(genotype, cell):
    return [op for op, _ in genotype.cell(cell)[0]]


def test_the_least_probable_change_lands_under_the_budget():
    genotype, probs, tables = _setting()
    assert _ops(genotype, "normal") + _ops(genotype, "reduce") == ["sep_conv_3x3"] * 16  # cost 160
    repaired, moves = repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": Band(150.35, 155.0)})
    # 150 cannot reach the band (costs come in tens): the closest under it, and the least probability given up
    assert moves == [{"cell": "normal", "from": ["sep_conv_3x3", 0], "to": ["max_pool_3x3", 0]}]
    assert repaired.normal[0] == ("max_pool_3x3", 0) and repaired.normal[1:] == genotype.normal[1:]
    assert repaired.reduce == genotype.reduce


def test_many_changes_keep_the_skip_limit():
    genotype, probs, tables = _setting()
    probs["normal"][:, SKIP] = 0.2  # skip-connect is free and the likeliest replacement everywhere
    repaired, moves = repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": Band(92.15, 95.0)},
                                      max_skip_connects=2)
    seps = _ops(repaired, "normal").count("sep_conv_3x3") + _ops(repaired, "reduce").count("sep_conv_3x3")
    assert 10 * seps <= 95.0 < 10 * seps + 10.0 and len(moves) == 16 - seps == 7  # no more changes than needed
    assert _ops(repaired, "normal").count("skip_connect") == 2  # the free, likeliest replacement, up to the limit


def test_a_genotype_in_its_band_is_left_alone():
    genotype, probs, tables = _setting()
    assert repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": Band(155.2, 160.0)}) == (genotype, [])


def test_a_genotype_far_under_its_budget_is_moved_up_into_the_band():
    """Capacity left unused is accuracy lost: the most probable architecture using 27-30 of a budget of 30."""
    probs = torch.full((14, len(OPS)), 0.05, dtype=torch.float64)
    probs[:, MAX] = 0.5
    probs[:, SEP] = 0.2
    probs[3, SEP] = 0.45  # the three most probable sep_conv_3x3 are on edges 3, 7 and 12 of the normal cell
    probs[7, SEP] = 0.4
    probs[12, SEP] = 0.35
    probs = {"normal": probs, "reduce": probs.clone()}
    probs["reduce"][[3, 7, 12], SEP] = 0.2
    genotype = derive_genotype(CANDIDATES, probs)
    tables = {"toy": _table("toy", SEP, 10.0)}
    assert _ops(genotype, "normal").count("sep_conv_3x3") == 0  # cost 0
    repaired, moves = repair_genotype(genotype, CANDIDATES, probs, tables, {"toy": Band(27.0, 30.0)})
    assert [edge for cell, edge in ((m["cell"], m["to"][1]) for m in moves)] == [3, 7, 12]
    assert all(m["to"][0] == "sep_conv_3x3" and m["cell"] == "normal" for m in moves)
    assert _ops(repaired, "normal").count("sep_conv_3x3") == 3


def test_two_budgets_at_once():
    """sep_conv_3x3 costs 'a', dil_conv_3x3 costs 'b': one repair meets both, the binding one in its band."""
    genotype, probs, _ = _setting()
    for cell in probs:
        probs[cell][:, DIL] = 0.3
    tables = {"a": _table("a", SEP, 10.0), "b": _table("b", DIL, 10.0)}
    bands = {"a": Band(97.0, 100.0), "b": Band(48.5, 50.0)}
    repaired, _ = repair_genotype(genotype, CANDIDATES, probs, tables, bands)
    ops = _ops(repaired, "normal") + _ops(repaired, "reduce")
    costs = {"a": 10.0 * ops.count("sep_conv_3x3"), "b": 10.0 * ops.count("dil_conv_3x3")}
    assert costs["a"] <= 100.0 and costs["b"] <= 50.0 and in_band(costs, bands)
    # the most probable way: sep_conv_3x3 (0.6) wherever the budget allows, then dil_conv_3x3 (0.3)
    assert costs == {"a": 100.0, "b": 50.0}


def test_an_impossible_budget_leaves_the_genotype_alone():
    genotype, probs, tables = _setting()
    impossible = {"toy": Band(-2.0, -1.0)}
    assert repair_genotype(genotype, CANDIDATES, probs, tables, impossible) == (genotype, [])
    assert math.isfinite(tables["toy"].fixed)
