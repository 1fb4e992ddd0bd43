"""Land a final genotype close under its budgets: the most probable architecture whose costs lie in a band.

Dual ascent steers the search to its budgets but, like any first-order method, the cost still moves
around them when the last alpha step is taken: a search can end a few percent over (it must not)
or well under (capacity left unused is accuracy lost). The repair keeps the derivation's structure
(two incoming edges per intermediate node, never ``none``, at most ``max_skip_connects``
skip-connects in the normal cell) and chooses, node by node, the edges and ops of the architecture
that

1. meets every budget: ``C_m <= upper_m``;
2. lands in the band: the tightest budget's use ``max_m C_m / upper_m`` is at least ``lower / upper``
   (when no feasible architecture reaches the band, the one closest under it is taken);
3. is the most probable among those: the largest sum of ``log p`` over the chosen ``(edge, op)``
   pairs, ``p`` being the last stage's architecture probabilities.

It is a small multiple-choice knapsack: a dynamic programme over the eight nodes, on costs
discretised relative to the budgets, with the skip-connects used as a second state in the normal
cell. A genotype already in every band is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rapdarts.costs.table import CostTable
from rapdarts.search.derive import node_choices, skip_limit
from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.space.layout import edge_sources, node_edges

STATES = 40_000
"""Discretisation: about this many cost states in all (per budget: its root)."""
OPTIONS_PER_NODE = 160
"""The most probable ``(edges, ops)`` choices of a node kept for the programme (plus the cheapest per cost)."""
LOG_FLOOR = 1e-12
"""Probability floor: ops pruned before the last stage (probability 0) stay possible but costly."""
KEEP_BONUS = 1e-9
"""Log-probability credit for each slot the repair leaves as it was: among equally probable
architectures, the one with the fewest changes wins."""


@dataclass(frozen=True)
class Band:
    """Where a budgeted cost should end: ``lower <= C <= upper`` (in the provider's unit); a ``lower`` of 0 means
    the budget has no lower edge (it cannot bind: every architecture of the space is under it)."""

    lower: float
    upper: float


@dataclass(frozen=True)
class _Option:
    slots: tuple[tuple[int, int], tuple[int, int]]  # ((edge, op position), (edge, op position))
    log_p: float
    costs: np.ndarray
    skips: int


def _node_options(cell: str, edges: range, probs: np.ndarray, tables: Sequence[np.ndarray],
                  candidates: Sequence[Sequence[str]], current: tuple[tuple[int, int], ...]) -> list[_Option]:
    """Every choice derivation could make for a node (:func:`~rapdarts.search.derive.node_choices`), the most
    probable ones kept, plus the cheapest per cost and the current one."""
    options = []
    for choice in node_choices(candidates, edges):
        (a, b), (i, j) = choice.edges, choice.ops
        log_p = math.log(max(float(probs[a, i]), LOG_FLOOR)) + math.log(max(float(probs[b, j]), LOG_FLOOR))
        costs = np.array([table[a, i] + table[b, j] for table in tables])
        unchanged = ((a, i) in current) + ((b, j) in current)
        options.append(_Option(((a, i), (b, j)), log_p + KEEP_BONUS * unchanged, costs,
                               choice.skips if cell == "normal" else 0))
    keep = sorted(options, key=lambda o: -o.log_p)[:OPTIONS_PER_NODE]
    for m in range(len(tables)):
        keep.append(min(options, key=lambda o: (o.costs[m], -o.log_p)))
    keep.extend(o for o in options if o.slots == tuple(sorted(current)))
    unique = {o.slots: o for o in keep}
    return list(unique.values())


def _kept_slots(genotype: Genotype, candidates: Mapping[str, Sequence[Sequence[str]]]
                ) -> dict[str, list[tuple[int, int]]]:
    kept = {}
    for cell in CELL_TYPES:
        edges, _ = genotype.cell(cell)
        kept[cell] = [(edge, list(candidates[cell][edge]).index(op))
                      for (op, _), edge in zip(edges, genotype.edge_indices(cell))]
    return kept


def _costs_of(kept: Mapping[str, Sequence[tuple[int, int]]], tables: Mapping[str, CostTable]) -> dict[str, float]:
    return {name: table.fixed + sum(float(table.tables[cell][e, i]) for cell, pairs in kept.items() for e, i in pairs)
            for name, table in tables.items()}


def in_band(costs: Mapping[str, float], bands: Mapping[str, Band]) -> bool:
    """Every budget met and at least one used to its band: the binding budget is close, the others may be slack.
    Budgets without a lower edge only need to be met."""
    edged = {n: band for n, band in bands.items() if band.lower > 0}
    return all(costs[n] <= band.upper for n, band in bands.items()) and \
        (not edged or any(costs[n] >= band.lower for n, band in edged.items()))


def repair_genotype(genotype: Genotype, candidates: Mapping[str, Sequence[Sequence[str]]],
                    probs: Mapping[str, torch.Tensor], tables: Mapping[str, CostTable], bands: Mapping[str, Band],
                    max_skip_connects: int | None = 2) -> tuple[Genotype, list[dict[str, Any]]]:
    """``(genotype in its bands, the changes made)``; ``tables`` and ``bands`` are keyed by cost name.

    Returns the genotype unchanged when it is already in its bands. When no architecture of the
    space meets every budget, the cheapest one is returned (its costs relative to the budgets summed
    smallest): it is the closest to meeting them there is.
    """
    kept = _kept_slots(genotype, candidates)
    if in_band(_costs_of(kept, tables), bands):
        return genotype, []
    uppers = {name: band.upper for name, band in bands.items()}
    for _ in range(3):  # the programme's grid rounds costs: tighten and retry if the exact cost ends over
        chosen = _programme(genotype.nodes, candidates, probs, tables, uppers, bands, kept, max_skip_connects)
        if chosen is None:
            break
        exact = _costs_of(chosen, tables)
        over = {n: exact[n] - bands[n].upper for n in bands if exact[n] > bands[n].upper}
        if not over:
            return _genotype(chosen, candidates, genotype), _moves(kept, chosen, candidates)
        uppers = {n: uppers[n] - 2 * over.get(n, 0.0) for n in uppers}
    cheapest = _cheapest(genotype.nodes, candidates, tables, bands, max_skip_connects)
    if _costs_of(cheapest, tables) == _costs_of(kept, tables):
        return genotype, []
    return _genotype(cheapest, candidates, genotype), _moves(kept, cheapest, candidates)


def _cheapest(nodes: int, candidates: Mapping[str, Sequence[Sequence[str]]], tables: Mapping[str, CostTable],
              bands: Mapping[str, Band], max_skip_connects: int | None) -> dict[str, list[tuple[int, int]]]:
    """The derivable architecture with the smallest sum of costs relative to the budgets (exact, under the
    skip-connect rule): a dynamic programme over nodes and, in the normal cell, skip-connects used."""
    chosen: dict[str, list[tuple[int, int]]] = {}
    for cell in CELL_TYPES:
        arrays = {n: tables[n].tables[cell].double().cpu().numpy() for n in bands}
        limit = skip_limit(cell, max_skip_connects)
        best: dict[int, tuple[float, list[tuple[int, int]]]] = {0: (0.0, [])}  # skips used -> (cost, slots)
        for edges in node_edges(nodes):
            merged: dict[int, tuple[float, list[tuple[int, int]]]] = {}
            for choice in node_choices(candidates[cell], edges):
                (a, b), (i, j) = choice.edges, choice.ops
                cost = sum((arrays[n][a, i] + arrays[n][b, j]) / bands[n].upper for n in bands)
                for used, (total, slots) in best.items():
                    skips = used + choice.skips
                    if limit is not None and skips > limit:
                        continue
                    if skips not in merged or total + cost < merged[skips][0]:
                        merged[skips] = (total + cost, [*slots, (a, i), (b, j)])
            best = merged
        chosen[cell] = min(best.values(), key=lambda entry: entry[0])[1]
    return chosen


def _programme(nodes: int, candidates: Mapping[str, Sequence[Sequence[str]]], probs: Mapping[str, torch.Tensor],
               tables: Mapping[str, CostTable], uppers: Mapping[str, float], bands: Mapping[str, Band],
               kept: Mapping[str, list[tuple[int, int]]], max_skip_connects: int | None
               ) -> dict[str, list[tuple[int, int]]] | None:
    """The dynamic programme over nodes; the chosen ``(edge, op position)`` slots per cell, or ``None``."""
    names = list(bands)
    fixed = np.array([tables[n].fixed for n in names])
    room = np.array([uppers[n] for n in names]) - fixed
    if (room < 0).any():
        return None
    cells_per_dim = max(4, int(round(STATES ** (1 / len(names)))))
    step = np.maximum(room, 1e-12) / cells_per_dim
    shape = tuple(cells_per_dim + 1 for _ in names)
    stages = []
    for cell in CELL_TYPES:
        arrays = [tables[n].tables[cell].double().cpu().numpy() for n in names]
        cell_probs = probs[cell].detach().double().cpu().numpy()
        for node, edges in enumerate(node_edges(nodes)):
            current = tuple(kept[cell][2 * node:2 * node + 2])
            stages.append((cell, _node_options(cell, edges, cell_probs, arrays, candidates[cell], current)))
    limit = skip_limit("normal", max_skip_connects)
    skips = (2 * nodes if limit is None else limit) + 1
    normal = np.full((skips, *shape), -np.inf)
    normal[(0,) * (1 + len(shape))] = 0.0
    picks_normal = []
    for _, options in stages[:nodes]:
        normal, pick = _advance(normal, options, step, shape, with_skips=True)
        picks_normal.append(pick)
    skip_of = normal.argmax(axis=0)
    value = normal.max(axis=0)
    picks_reduce = []
    for _, options in stages[nodes:]:
        value, pick = _advance(value, options, step, shape, with_skips=False)
        picks_reduce.append(pick)
    state = _final_state(value, fixed, step, shape, names, bands)
    if state is None:
        return None
    chosen: dict[str, list[tuple[int, int]]] = {cell: [] for cell in CELL_TYPES}
    for (_, options), pick in zip(reversed(stages[nodes:]), reversed(picks_reduce)):
        option = options[int(pick[state])]
        chosen["reduce"] = [*option.slots, *chosen["reduce"]]
        state = tuple(int(p - o) for p, o in zip(state, np.rint(option.costs / step).astype(int)))
    position = (int(skip_of[state]), *state)
    for (_, options), pick in zip(reversed(stages[:nodes]), reversed(picks_normal)):
        option = options[int(pick[position])]
        chosen["normal"] = [*option.slots, *chosen["normal"]]
        offset = np.rint(option.costs / step).astype(int)
        position = (position[0] - option.skips, *(int(p - o) for p, o in zip(position[1:], offset)))
    return chosen


def _advance(best: np.ndarray, options: Sequence[_Option], step: np.ndarray, shape: tuple[int, ...],
             with_skips: bool) -> tuple[np.ndarray, np.ndarray]:
    """One node of the programme: the best log-probability of every state after choosing one of ``options``."""
    new = np.full_like(best, -np.inf)
    pick = np.full(best.shape, -1, dtype=np.int32)
    skip_states = best.shape[0] if with_skips else 0
    for number, option in enumerate(options):
        offset = np.rint(option.costs / step).astype(int)
        if (offset >= np.array(shape)).any() or (with_skips and option.skips >= skip_states):
            continue
        costs_from = tuple(slice(0, s - o) for s, o in zip(shape, offset))
        costs_to = tuple(slice(o, s) for s, o in zip(shape, offset))
        if with_skips:
            source = (slice(0, skip_states - option.skips), *costs_from)
            target = (slice(option.skips, skip_states), *costs_to)
        else:
            source, target = costs_from, costs_to
        candidate = best[source] + option.log_p
        better = candidate > new[target]
        new[target] = np.where(better, candidate, new[target])
        pick[target] = np.where(better, number, pick[target])
    return new, pick


def _final_state(value: np.ndarray, fixed: np.ndarray, step: np.ndarray, shape: tuple[int, ...], names: list[str],
                 bands: Mapping[str, Band]) -> tuple[int, ...] | None:
    """The most probable reachable state in a band; else the one closest under a band (then the most probable)."""
    feasible = np.isfinite(value)
    if not feasible.any():
        return None
    grids = np.meshgrid(*[fixed[m] + step[m] * np.arange(shape[m]) for m in range(len(names))], indexing="ij")
    edged = [(grid, name) for grid, name in zip(grids, names) if bands[name].lower > 0]
    closeness = np.max([grid / bands[name].lower for grid, name in edged], axis=0) if edged else \
        np.ones(value.shape)
    banded = feasible & (closeness >= 1.0)
    if banded.any():
        scores = np.where(banded, value, -np.inf)
    else:
        top = np.max(np.where(feasible, closeness, -np.inf))
        scores = np.where(feasible & (closeness >= top - 1e-12), value, -np.inf)
    return tuple(int(i) for i in np.unravel_index(np.argmax(scores), value.shape))


def _genotype(kept: Mapping[str, Sequence[tuple[int, int]]], candidates: Mapping[str, Sequence[Sequence[str]]],
              like: Genotype) -> Genotype:
    sources = edge_sources(like.nodes)
    cells = {}
    for cell in CELL_TYPES:
        pairs = list(kept[cell])
        edges = []
        for node in range(len(pairs) // 2):
            for e, i in sorted(pairs[2 * node:2 * node + 2]):
                edges.append((candidates[cell][e][i], sources[e][1]))
        cells[cell] = tuple(edges)
    return Genotype(cells["normal"], like.normal_concat, cells["reduce"], like.reduce_concat)


def _moves(before: Mapping[str, Sequence[tuple[int, int]]], after: Mapping[str, Sequence[tuple[int, int]]],
           candidates: Mapping[str, Sequence[Sequence[str]]]) -> list[dict[str, Any]]:
    """The changes, one per changed edge slot: ``{"cell", "from": [op, edge], "to": [op, edge]}``.

    Within a node, an edge kept with another op is paired with itself; other changes pair in order.
    """
    moves = []
    for cell in CELL_TYPES:
        for node in range(len(before[cell]) // 2):
            old_node, new_node = before[cell][2 * node:2 * node + 2], after[cell][2 * node:2 * node + 2]
            old = [slot for slot in old_node if slot not in new_node]
            new = [slot for slot in new_node if slot not in old_node]
            old.sort(key=lambda slot: (slot[0] not in {e for e, _ in new}, slot))
            new.sort(key=lambda slot: (slot[0] not in {e for e, _ in old}, slot))
            for (e_old, i_old), (e_new, i_new) in zip(old, new):
                moves.append({"cell": cell, "from": [candidates[cell][e_old][i_old], e_old],
                              "to": [candidates[cell][e_new][i_new], e_new]})
    return moves
