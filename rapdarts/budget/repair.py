"""A safety net for budgets: when the final genotype ends over budget, change the fewest, least
probable ops until it meets every budget.

Dual ascent steers the search to the budget but, like any first-order method, the cost still
moves around it when the last alpha step is taken; a search that ends a few percent over would
otherwise be wasted. The repair takes greedy moves on the final genotype, each replacing one kept
``(edge, op)`` of a node by another selectable one of the same node (another op, or another
incoming edge), choosing each time the move that gives up the least architecture probability per
unit of budget excess removed: ``(p_old - p_new) / (excess_before - excess_after)`` with
``excess = sum_m max(0, C_m / B_m - 1)``. It never picks ``none`` and keeps the skip-connect limit.
A genotype already within every budget is returned unchanged; the moves made are reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rapdarts.costs.table import CostTable
from rapdarts.search.derive import SKIP, skip_limit
from rapdarts.space.genotype import Genotype
from rapdarts.space.layout import edge_sources, node_edges

Kept = dict[str, list[tuple[int, int]]]  # cell type -> kept (edge, op index), two per node in node order


def kept_edges(genotype: Genotype, candidates: Mapping[str, Sequence[Sequence[str]]]) -> Kept:
    """``(edge, op position)`` of every kept edge of each cell, two per node in node order."""
    kept: Kept = {}
    for cell in candidates:
        edges, _ = genotype.cell(cell)
        kept[cell] = [(edge, list(candidates[cell][edge]).index(op))
                      for (op, _), edge in zip(edges, genotype.edge_indices(cell))]
    return kept


def _costs(kept: Kept, tables: Mapping[str, CostTable]) -> dict[str, float]:
    return {name: table.fixed + sum(float(table.tables[cell][e, i]) for cell, pairs in kept.items() for e, i in pairs)
            for name, table in tables.items()}


def _excess(costs: Mapping[str, float], budgets: Mapping[str, float]) -> float:
    return sum(max(0.0, costs[name] / budget - 1.0) for name, budget in budgets.items())


def repair_genotype(genotype: Genotype, candidates: Mapping[str, Sequence[Sequence[str]]],
                    probs: Mapping[str, torch.Tensor], tables: Mapping[str, CostTable],
                    budgets: Mapping[str, float], max_skip_connects: int | None = 2,
                    max_moves: int = 64) -> tuple[Genotype, list[dict[str, Any]]]:
    """``(genotype within budgets, moves made)``; ``tables`` and ``budgets`` are keyed by cost name."""
    kept = kept_edges(genotype, candidates)
    p = {cell: probs[cell].detach().double().cpu() for cell in candidates}
    nodes = node_edges(genotype.nodes)
    moves: list[dict[str, Any]] = []
    costs = _costs(kept, tables)
    while _excess(costs, budgets) > 0 and len(moves) < max_moves:
        best = None
        excess = _excess(costs, budgets)
        for cell, pairs in kept.items():
            skips = sum(candidates[cell][e][i] == SKIP for e, i in pairs)
            for slot, (edge, op) in enumerate(pairs):
                other = pairs[slot ^ 1][0]
                node = next(edges for edges in nodes if edge in edges)
                for new_edge in node:
                    if new_edge == other:
                        continue
                    for new_op, name in enumerate(candidates[cell][new_edge]):
                        if name == "none" or (new_edge, new_op) == (edge, op):
                            continue
                        limit = skip_limit(cell, max_skip_connects)
                        if (limit is not None and name == SKIP and candidates[cell][edge][op] != SKIP
                                and skips + 1 > limit):
                            continue
                        delta = {m: float(t.tables[cell][new_edge, new_op] - t.tables[cell][edge, op])
                                 for m, t in tables.items()}
                        after = _excess({m: costs[m] + delta[m] for m in costs}, budgets)
                        if after >= excess:
                            continue
                        loss = float(p[cell][edge, op] - p[cell][new_edge, new_op]) / (excess - after)
                        if best is None or loss < best[0]:
                            best = (loss, cell, slot, new_edge, new_op, delta)
        if best is None:
            break
        _, cell, slot, new_edge, new_op, delta = best
        edge, op = kept[cell][slot]
        moves.append({"cell": cell, "from": [candidates[cell][edge][op], edge],
                      "to": [candidates[cell][new_edge][new_op], new_edge]})
        kept[cell][slot] = (new_edge, new_op)
        costs = {m: costs[m] + delta[m] for m in costs}
    return _genotype(kept, candidates, genotype), moves


def _genotype(kept: Kept, candidates: Mapping[str, Sequence[Sequence[str]]], like: Genotype) -> Genotype:
    sources = edge_sources(like.nodes)
    cells = {}
    for cell, pairs in kept.items():
        edges = []
        for node in range(len(pairs) // 2):
            for e, i in sorted(pairs[2 * node:2 * node + 2]):
                edges.append((candidates[cell][e][i], sources[e][1]))
        cells[cell] = tuple(edges)
    return Genotype(cells["normal"], like.normal_concat, cells["reduce"], like.reduce_concat)
