"""Cost tables and the differentiable expected cost (RAPDARTS eqs. 7, 9, 10).

For a cost ``m`` and a search stage, ``table[t][e, i]`` is the cost of candidate op ``i`` on edge
``e`` summed over the target network's cells of type ``t``, and ``fixed`` the cost of everything
else. The expected cost under the architecture distribution is then

    C_m = sum_t sum_e sum_i softmax(alpha_t[e])_i * table[t][e, i] + fixed,

a handful of tensor ops per step on the search device. Its gradient is
``dC/d alpha_t[e, i] = p_i * (c_i - sum_l p_l c_l)`` (eq. 8; checked in the tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rapdarts.costs.cache import CostCache
from rapdarts.costs.target import TargetNetwork
from rapdarts.plugins.provider import CostProvider
from rapdarts.space.genotype import CELL_TYPES, Genotype


@dataclass
class CostTable:
    """One provider's costs for one stage's candidates: ``[edges, ops]`` per cell type, plus fixed."""

    provider: CostProvider
    tables: dict[str, torch.Tensor]
    fixed: float

    @classmethod
    def build(cls, provider: CostProvider, target: TargetNetwork, candidates: Mapping[str, Sequence[Sequence[str]]],
              cache: CostCache) -> CostTable:
        tables = {}
        for cell_type in CELL_TYPES:
            specs = target.candidate_specs(cell_type, candidates[cell_type])
            tables[cell_type] = torch.tensor(
                [[sum(cache.costs(provider, cells)) for cells in edge] for edge in specs], dtype=torch.float64)
        fixed = sum(cache.costs(provider, target.fixed_specs()))
        return cls(provider, tables, float(fixed))

    def to(self, device: torch.device) -> CostTable:
        return CostTable(self.provider, {t: v.to(device=device, dtype=torch.float32) for t, v in self.tables.items()},
                         self.fixed)


def expected_cost(alphas: Mapping[str, torch.Tensor], table: CostTable) -> torch.Tensor:
    """``sum_t sum_e sum_i softmax(alpha_t)[e, i] * table_t[e, i] + fixed`` (differentiable)."""
    total = None
    for cell_type, alpha in alphas.items():
        term = (F.softmax(alpha, dim=-1) * table.tables[cell_type].to(alpha.dtype)).sum()
        total = term if total is None else total + term
    return total + table.fixed


class ExpectedCost:
    """A :class:`~rapdarts.plugins.extensions.LossTerm`: ``weight * C_m`` for one provider's table."""

    def __init__(self, table: CostTable, weight: float):
        self.table = table
        self.weight = weight
        self.name = table.provider.name

    def value(self, model: nn.Module) -> torch.Tensor:
        return expected_cost(model.alphas(), self.table)


def genotype_costs(genotype: Genotype, providers: Sequence[CostProvider], target: TargetNetwork,
                   cache: CostCache | None = None) -> dict[str, float]:
    """The actual cost of the network built from ``genotype``, per provider (cell ops + fixed parts)."""
    cache = cache or CostCache()
    specs = target.genotype_specs(genotype)
    costs = {provider.name: float(sum(cache.costs(provider, specs))) for provider in providers}
    cache.flush(providers)
    return costs
