"""The costs of a search, stage by stage: what NNI calls the profiler, kept apart from any penalty on it.

For a set of providers and a :class:`~rapdarts.costs.target.Pricing`, :class:`StageCosts` prices
every op of the search space once before anything is written (a provider that cannot answer fails
the search there), builds each stage's cost tables on the search device, and reports the expected
cost under the alphas and the actual cost of a genotype. Penalties (fixed lambdas, budgets) read it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from rapdarts.costs.cache import CostCache
from rapdarts.costs.table import CostTable, expected_cost, genotype_costs
from rapdarts.costs.target import Pricing, TargetNetwork
from rapdarts.data import DataShape
from rapdarts.plugins.provider import CostProvider, target_notes
from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import primitives
from rapdarts.space.supernet import SearchNetwork

log = logging.getLogger("rapdarts")


class StageCosts:
    """Cost tables of ``providers`` for each stage of a search, and the costs they give."""

    def __init__(self, providers: Sequence[CostProvider], pricing: Pricing = Pricing(), cache: CostCache | None = None):
        self.providers = list(providers)
        self.pricing = pricing
        self.cache = cache or CostCache()
        self.tables: list[CostTable] = []
        self.table_seconds: list[float] = []
        self.shape = DataShape()
        self.target = pricing.eval_target(self.shape)

    def prepare(self, shape: DataShape) -> None:
        """Price every op of the search space in every network the search will price, once, before anything is
        written: a provider that cannot answer (a missing or corrupt latency table, a plugin returning NaN) fails
        the search here, and in a data-parallel job rank 0 fills the tables the other ranks then read."""
        self.shape = shape
        self.target = self.pricing.eval_target(shape)
        space = {cell: tuple(tuple(primitives()) for _ in edge_sources()) for cell in CELL_TYPES}
        for target in self.pricing.targets(shape):
            for note in target_notes(self.providers, target):
                log.warning("warning: %s", note)
            for provider in self.providers:
                CostTable.build(provider, target, space, self.cache)
        self.cache.flush(self.providers)

    def build(self, model: SearchNetwork, stage: int) -> list[CostTable]:
        """Each provider's cost table for the stage that starts with ``model`` (kept in ``self.tables``)."""
        started = time.perf_counter()
        computed_before, cached_before = self.cache.computed, self.cache.cached
        self.target = self.pricing.target(self.shape, model)
        device = model.alphas_normal.device
        self.tables = [CostTable.build(p, self.target, model.candidates, self.cache).to(device)
                       for p in self.providers]
        self.cache.flush(self.providers)
        self.table_seconds.append(time.perf_counter() - started)
        log.info("cost tables (%s) for stage %d built in %.1fs: %d op costs computed, %d from cache",
                 ", ".join(p.name for p in self.providers), stage + 1, self.table_seconds[-1],
                 self.cache.computed - computed_before, self.cache.cached - cached_before)
        return self.tables

    def metrics(self, model: SearchNetwork, genotype: Genotype) -> dict[str, Any]:
        """The expected cost under the alphas now and the actual cost of ``genotype``, per provider."""
        alphas = {cell: alpha.detach() for cell, alpha in model.alphas().items()}
        expected = {table.provider.name: float(expected_cost(alphas, table)) for table in self.tables}
        return {"expected_cost": expected, "genotype_cost": self.of(genotype),
                "cost_units": {p.name: p.unit for p in self.providers}}

    def of(self, genotype: Genotype, target: TargetNetwork | None = None) -> dict[str, float]:
        """The actual cost of ``genotype`` under every provider."""
        return genotype_costs(genotype, self.providers, target or self.target, self.cache)
