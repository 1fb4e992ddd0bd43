"""Derive a discrete genotype from architecture probabilities (the P-DARTS rules).

Given the candidate ops of every edge and ``softmax(alpha)`` over them:

1. ``none`` gets probability zero (not renormalised).
2. Each edge's strength is its largest remaining probability, its op the one attaining it.
3. Each intermediate node keeps its two strongest incoming edges.
4. In the normal cell at most ``max_skip_connects`` edges may be skip-connects: while there are
   more, the weakest kept skip-connect's probability is set to zero and steps 2-3 are redone
   (P-DARTS, Chen et al. 2019, Sec. 3.3, "M = 2").

Ties break as in the reference code: the later edge wins among equally strong edges.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .genotype import Edge, Genotype
from .layout import edge_sources

SKIP = "skip_connect"


def _edge_choices(candidates: Sequence[Sequence[str]], probs: torch.Tensor) -> tuple[list[str], list[float]]:
    ops, strengths = [], []
    for names, row in zip(candidates, probs.tolist(), strict=True):
        best = max(range(len(names)), key=lambda i: (row[i], -i))
        ops.append(names[best])
        strengths.append(row[best])
    return ops, strengths


def _keep_edges(strengths: Sequence[float], steps: int) -> list[int]:
    kept, start = [], 0
    for node in range(2, steps + 2):
        incoming = range(start, start + node)
        ranked = sorted(incoming, key=lambda e: strengths[e])  # stable: the later edge wins a tie
        kept.extend(sorted(ranked[-2:]))
        start += node
    return kept


def derive_cell(candidates: Sequence[Sequence[str]], probs: torch.Tensor, steps: int = 4,
                max_skip_connects: int | None = None) -> tuple[Edge, ...]:
    """The kept ``(op, input)`` edges of one cell, two per node, in node order.

    ``probs`` is ``[edges, ops]`` aligned with ``candidates``; ``max_skip_connects`` (``None`` for
    no limit) applies the P-DARTS skip-connect rule.
    """
    probs = probs.detach().double().cpu().clone()
    for edge, names in enumerate(candidates):
        for position, name in enumerate(names):
            if name == "none":
                probs[edge, position] = 0.0
    sources = edge_sources(steps)
    while True:
        ops, strengths = _edge_choices(candidates, probs)
        kept = _keep_edges(strengths, steps)
        skips = [e for e in kept if ops[e] == SKIP]
        if max_skip_connects is None or len(skips) <= max_skip_connects:
            return tuple((ops[e], sources[e][1]) for e in kept)
        weakest = min(skips, key=lambda e: probs[e, list(candidates[e]).index(SKIP)].item())
        position = list(candidates[weakest]).index(SKIP)
        if probs[weakest, position] == 0.0:  # nothing left to demote: every remaining op is zero
            return tuple((ops[e], sources[e][1]) for e in kept)
        probs[weakest, position] = 0.0


def derive_genotype(candidates: dict[str, Sequence[Sequence[str]]], probs: dict[str, torch.Tensor],
                    steps: int = 4, max_skip_connects: int | None = 2) -> Genotype:
    """Genotype from per-cell-type candidates and probabilities; the skip rule binds the normal cell."""
    concat = tuple(range(2, steps + 2))
    normal = derive_cell(candidates["normal"], probs["normal"], steps, max_skip_connects)
    reduce = derive_cell(candidates["reduce"], probs["reduce"], steps, None)
    return Genotype(normal, concat, reduce, concat)
