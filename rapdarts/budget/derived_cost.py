"""Costs as the derivation sees them: a derivation-aware expected cost, the derived cost and the floor.

The paper's expected cost (RAPDARTS eq. 9, :func:`rapdarts.costs.expected_cost`) weights every op
of all 14 mixed ops of a cell by ``softmax(alpha)``. The derived cell keeps only 8 of those edges
(two per node), never picks ``none`` and allows at most two skip-connects in the normal cell, so
that expectation over-predicts the derived architecture's cost (14 edges instead of 8) and puts
probability on ``none`` that derivation ignores.

:func:`derived_expected_cost` follows the derivation step by step, with each hard choice relaxed
at temperature ``tau`` (log-probability units, scaled by the spread of the alphas):

* op choice ``q_e = softmax(log p_e / tau)`` over the ops derivation may pick on edge ``e`` (not
  ``none``, not a skip-connect the skip rule demotes);
* edge strength ``s_e = sum_i q_e,i p_e,i`` (the soft maximum of those probabilities; ``p`` is
  softmax over all ops, ``none`` included, as derivation ranks edges by it);
* keep probability ``k_e``: the Plackett-Luce probability that ``e`` is among its node's two
  strongest edges when edges are drawn with weights ``s_e ** (1 / tau)``, i.e.
  ``k_e = pi_e + sum_{j != e} pi_j pi_e / (1 - pi_j)`` with ``pi = softmax(log s / tau)``; it is in
  ``[0, 1]``, sums to exactly 2 per node, and is 1 for both edges of the first node;
* ``C = fixed + sum_t sum_e k_e sum_i q_e,i table_t[e, i]``.

As ``tau -> 0`` every relaxation becomes the hard rule and ``C`` becomes the derived cost exactly
(the skip rule is applied through the same demotions derivation makes). The gradient flows to the
choice among the ops derivation can keep and to which edges are kept, not into ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from rapdarts.costs.table import CostTable
from rapdarts.search.derive import derive_choices, derive_genotype, node_choices, skip_limit
from rapdarts.space.layout import NODES, Candidates, node_edges


def selectable_ops(candidates: Candidates, probs: torch.Tensor, nodes: int = NODES,
                   max_skip_connects: int | None = None) -> torch.Tensor:
    """``[edges, ops]`` bool: the ops derivation may pick on each edge (not ``none``, not a demoted skip)."""
    return derive_choices(candidates, probs, max_skip_connects, nodes).selectable


def top2_probability(z: torch.Tensor) -> torch.Tensor:
    """Plackett-Luce probability that each item is among the first two drawn, for logits ``z`` ``[n]``.

    ``P(e in top 2) = pi_e + sum_{j != e} pi_j * softmax(z without j)_e``; sums to ``min(n, 2)``.
    """
    n = z.shape[0]
    if n <= 2:
        return torch.ones_like(z)
    first = F.softmax(z, dim=0)
    without = z.expand(n, n).masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), -math.inf)
    second = F.softmax(without, dim=1)  # second[j, e] = P(e drawn second | j drawn first)
    return first + (first[:, None] * second).sum(0)


def score_scale(scores: torch.Tensor) -> torch.Tensor:
    """Standard deviation of ``scores`` (detached; a floor keeps it positive): a temperature scale."""
    return scores.detach().std().clamp_min(1e-6)


def cell_expected_cost(alpha: torch.Tensor, table: torch.Tensor, allowed: torch.Tensor, tau: float,
                       nodes: int = NODES, relative: bool = True) -> torch.Tensor:
    """Derivation-aware expected cost of one cell type's ops (``alpha``, ``table``: ``[edges, ops]``).

    ``allowed`` comes from :func:`selectable_ops`. With ``relative`` the op-choice temperature is
    ``tau`` times the spread of the selectable ops' alphas and the edge-keep temperature ``tau`` times the spread of
    the log edge strengths (both detached); otherwise ``tau`` is used as is (log-probability units).
    """
    log_p = F.log_softmax(alpha, dim=-1)
    allowed = allowed.to(alpha.device)
    empty = ~allowed.any(dim=-1, keepdim=True)
    if empty.any():  # derivation falls back to the first op where nothing is selectable
        first = torch.zeros_like(allowed)
        first[:, 0] = True
        allowed = torch.where(empty, first, allowed)
    op_tau = tau * score_scale(alpha[allowed]) if relative else tau
    q = F.softmax(log_p.masked_fill(~allowed, -math.inf) / op_tau, dim=-1)
    edge_cost = (q * table.to(alpha.dtype)).sum(-1)
    strength = (q * log_p.exp()).sum(-1).clamp_min(1e-30)
    log_s = strength.log()
    z = log_s / (tau * score_scale(log_s) if relative else tau)
    keep = torch.cat([top2_probability(z[list(edges)]) for edges in node_edges(nodes)])
    return (keep * edge_cost).sum()


def derived_expected_cost(alphas: Mapping[str, torch.Tensor], table: CostTable,
                          candidates: Mapping[str, Candidates], tau: float = 0.1,
                          max_skip_connects: int | None = 2, grad_tau: float | None = 1.0) -> torch.Tensor:
    """``C`` of the module docstring, in the table's unit, differentiable in ``alphas``.

    The value uses ``tau`` relative to the spread (standard deviation) of the scores each choice
    ranks (the selectable ops' alphas for op choice, the log edge strengths for edge keeping), so
    that, like derivation itself, the prediction does not depend on their overall scale: the tiny
    alpha differences early in a search decide the derived genotype as much as large ones do later.

    The gradient is that of the same relaxation at the absolute temperature ``grad_tau`` (a
    straight-through estimate; ``None`` differentiates the value itself). A relative temperature
    makes the gradient grow like ``1 / spread``, a thousandfold at the ``1e-3`` initial alphas,
    which would let the cost term drown the cross-entropy in the first alpha steps; at
    ``grad_tau = 1`` the gradient is on the scale of the paper's expectation, pointing at the ops
    derivation can keep and the edges it keeps.
    """
    allowed = {cell: selectable_ops(candidates[cell], F.softmax(alpha.detach(), dim=-1),
                                    max_skip_connects=skip_limit(cell, max_skip_connects))
               for cell, alpha in alphas.items()}
    value = _total(alphas, table, allowed, tau, relative=True)
    if grad_tau is None:
        return value
    smooth = _total(alphas, table, allowed, grad_tau, relative=False)
    return value.detach() + (smooth - smooth.detach())


def _total(alphas: Mapping[str, torch.Tensor], table: CostTable, allowed: Mapping[str, torch.Tensor], tau: float,
           relative: bool) -> torch.Tensor:
    total = sum(cell_expected_cost(alpha, table.tables[cell], allowed[cell], tau, relative=relative)
                for cell, alpha in alphas.items())
    return total + table.fixed


def derived_cost(alphas: Mapping[str, torch.Tensor], table: CostTable, candidates: Mapping[str, Candidates],
                 max_skip_connects: int | None = 2) -> float:
    """The cost of the genotype derivation picks from ``alphas`` now, read from the table (exact)."""
    probs = {cell: F.softmax(alpha.detach().float(), dim=-1) for cell, alpha in alphas.items()}
    genotype = derive_genotype(candidates, probs, max_skip_connects=max_skip_connects)
    total = table.fixed
    for cell_type in alphas:
        edges, _ = genotype.cell(cell_type)
        for (op, _), edge in zip(edges, genotype.edge_indices(cell_type)):
            total += float(table.tables[cell_type][edge, list(candidates[cell_type][edge]).index(op)])
    return total


def extreme_cost(table: CostTable, candidates: Mapping[str, Candidates], cheapest: bool = True,
                 max_skip_connects: int | None = 2, nodes: int = NODES) -> float:
    """The lowest (or highest) cost any derivable genotype can have (:func:`~rapdarts.search.derive.node_choices`).

    Exact under the skip-connect rule: a small dynamic programme over nodes and skip-connects used.
    """
    pick = min if cheapest else max
    total = table.fixed
    for cell_type in candidates:
        limit = skip_limit(cell_type, max_skip_connects)
        values = table.tables[cell_type].double().tolist()
        best: dict[int, float] = {0: 0.0}  # skip-connects used -> best cost so far
        for edges in node_edges(nodes):
            choices: dict[int, float] = {}
            for choice in node_choices(candidates[cell_type], edges):
                (a, b), (i, j) = choice.edges, choice.ops
                cost = values[a][i] + values[b][j]
                choices[choice.skips] = pick(choices.get(choice.skips, cost), cost)
            merged: dict[int, float] = {}
            for used, cost in best.items():
                for extra, choice_cost in choices.items():
                    if limit is not None and used + extra > limit:
                        continue
                    merged[used + extra] = pick(merged.get(used + extra, cost + choice_cost), cost + choice_cost)
            best = merged
        total += pick(best.values())
    return total
