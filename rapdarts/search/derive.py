"""Derive a discrete genotype from architecture probabilities (the P-DARTS rules), in one place.

Given the candidate ops of every edge and ``softmax(alpha)`` over them:

1. ``none`` gets probability zero (not renormalised).
2. Each edge's strength is its largest remaining probability, its op the one attaining it.
3. Each intermediate node keeps its two strongest incoming edges.
4. In the normal cell at most ``max_skip_connects`` edges may be skip-connects: while there are
   more, the weakest kept skip-connect's probability is set to zero and steps 2-3 are redone
   (P-DARTS, Chen et al. 2019, Sec. 3.3, "M = 2").

Ties break as in the reference code: the later edge wins among equally strong edges.

:func:`derive_choices` applies the rules and says what they decided, including which ops were
still selectable at the end; the genotype (:func:`derive_genotype`) and the derivation-aware
expected cost of budgets read that one answer. :func:`node_choices` enumerates what derivation
*could* pick for a node (two of its incoming edges, one op other than ``none`` on each, and how
many skip-connects that uses); the cheapest and dearest architecture of a search space and the
budget repair search over those options, so no second copy of the rules exists.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from rapdarts.space.genotype import CELL_TYPES, Edge, Genotype
from rapdarts.space.layout import NODES, edge_sources, node_edges
from rapdarts.space.ops import SKIP, is_zero


@dataclass(frozen=True)
class CellChoices:
    """What derivation decided for one cell."""

    ops: tuple[int, ...]
    """Position (in the edge's candidates) of the op each edge would take."""
    kept: tuple[int, ...]
    """The kept edges, two per node in node order, ascending within a node."""
    selectable: torch.Tensor
    """``[edges, ops]`` bool: ops derivation may pick (not ``none``, not a skip-connect the skip rule demoted)."""


def _edge_choices(candidates: Sequence[Sequence[str]], probs: torch.Tensor) -> tuple[list[int], list[float]]:
    ops, strengths = [], []
    for names, row in zip(candidates, probs.tolist(), strict=True):
        best = max(range(len(names)), key=lambda i: (row[i], -i))
        ops.append(best)
        strengths.append(row[best])
    return ops, strengths


def _keep_edges(strengths: Sequence[float], nodes: int) -> list[int]:
    kept = []
    for incoming in node_edges(nodes):
        ranked = sorted(incoming, key=lambda e: strengths[e])  # stable: the later edge wins a tie
        kept.extend(sorted(ranked[-2:]))
    return kept


def derive_choices(candidates: Sequence[Sequence[str]], probs: torch.Tensor, max_skip_connects: int | None = None,
                   nodes: int = NODES) -> CellChoices:
    """Apply the derivation rules to one cell (``probs``: ``[edges, ops]`` aligned with ``candidates``).

    ``max_skip_connects`` (``None`` for no limit) applies the P-DARTS skip-connect rule.
    """
    probs = probs.detach().double().cpu().clone()
    selectable = torch.ones(probs.shape, dtype=torch.bool)
    for edge, names in enumerate(candidates):
        for position, name in enumerate(names):
            if is_zero(name):
                probs[edge, position] = 0.0
                selectable[edge, position] = False
    while True:
        ops, strengths = _edge_choices(candidates, probs)
        kept = _keep_edges(strengths, nodes)
        skips = [e for e in kept if candidates[e][ops[e]] == SKIP]
        if max_skip_connects is None or len(skips) <= max_skip_connects:
            break
        weakest = min(skips, key=lambda e: probs[e, list(candidates[e]).index(SKIP)].item())
        position = list(candidates[weakest]).index(SKIP)
        if probs[weakest, position] == 0.0:  # nothing left to demote: every remaining op is zero
            break
        probs[weakest, position] = 0.0
        selectable[weakest, position] = False
    return CellChoices(tuple(ops), tuple(kept), selectable)


def derive_cell(candidates: Sequence[Sequence[str]], probs: torch.Tensor, nodes: int = NODES,
                max_skip_connects: int | None = None) -> tuple[Edge, ...]:
    """The kept ``(op, input)`` edges of one cell, two per node, in node order."""
    choices = derive_choices(candidates, probs, max_skip_connects, nodes)
    sources = edge_sources(nodes)
    return tuple((candidates[e][choices.ops[e]], sources[e][1]) for e in choices.kept)


@dataclass(frozen=True)
class NodeChoice:
    """One way derivation can fill an intermediate node: two of its incoming edges and an op on each."""

    edges: tuple[int, int]
    """The two kept edges (indices into :func:`~rapdarts.space.layout.edge_sources`), ascending."""
    ops: tuple[int, int]
    """The position of each edge's op in that edge's candidates."""
    skips: int
    """How many of the two ops are skip-connects (what the skip-connect rule counts)."""


def node_choices(candidates: Sequence[Sequence[str]], edges: Sequence[int]) -> Iterator[NodeChoice]:
    """Every choice derivation could make for the node entered by ``edges``: two edges, never ``none``."""
    selectable = {e: [i for i, name in enumerate(candidates[e]) if not is_zero(name)] for e in edges}
    for a, b in itertools.combinations(sorted(edges), 2):
        for i, j in itertools.product(selectable[a], selectable[b]):
            yield NodeChoice((a, b), (i, j), (candidates[a][i] == SKIP) + (candidates[b][j] == SKIP))


def skip_limit(cell_type: str, max_skip_connects: int | None) -> int | None:
    """The skip-connect limit of a cell type: the P-DARTS rule binds the normal cell only."""
    return max_skip_connects if cell_type == "normal" else None


def derive_genotype(candidates: Mapping[str, Sequence[Sequence[str]]], probs: Mapping[str, torch.Tensor],
                    nodes: int = NODES, max_skip_connects: int | None = 2) -> Genotype:
    """Genotype from per-cell-type candidates and probabilities; the skip rule binds the normal cell."""
    concat = tuple(range(2, nodes + 2))
    cells = {cell: derive_cell(candidates[cell], probs[cell], nodes, skip_limit(cell, max_skip_connects))
             for cell in CELL_TYPES}
    return Genotype(cells["normal"], concat, cells["reduce"], concat)
