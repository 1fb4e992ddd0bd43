"""The progressive part of P-DARTS: op pruning between stages and the skip-connect dropout schedule.

P-DARTS (Chen et al., ICCV 2019, Sec. 3.2-3.3) searches in stages of growing depth. Between stages
each edge keeps only its strongest candidate ops, ranked by softmax(alpha) over the ops that
edge still has; a fresh network is built for the next stage, carrying over nothing but these
candidate lists. Dropout after identity skip-connects starts at a per-stage rate and decays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from rapdarts.space.layout import Candidates


def prune_candidates(candidates: Sequence[Sequence[str]], probs: torch.Tensor, keep: int) -> Candidates:
    """Keep the ``keep`` most probable ops of every edge, in their original order.

    ``none`` is ranked like any other op (as in P-DARTS between stages). Ties drop the earlier op,
    as the reference's ascending argsort does.
    """
    pruned = []
    for names, row in zip(candidates, probs.tolist(), strict=True):
        if keep >= len(names):
            pruned.append(tuple(names))
            continue
        ranked = sorted(range(len(names)), key=lambda i: (row[i], i))
        survivors = sorted(ranked[len(names) - keep:])
        pruned.append(tuple(names[i] for i in survivors))
    return tuple(pruned)


def skip_dropout_rate(initial: float, epoch: int, epochs: int, warmup_epochs: int, decay: float = 0.2) -> float:
    """Dropout rate after identity skip-connects for ``epoch`` (0-based) of a stage.

    During warm-up (weights only) it falls linearly, ``p0 * (E - e - 1) / E``; afterwards it
    decays exponentially, ``p0 * exp(-decay * (e - warmup))`` (P-DARTS reference code).
    """
    if epoch < warmup_epochs:
        return initial * (epochs - epoch - 1) / epochs
    return initial * math.exp(-decay * (epoch - warmup_epochs))
