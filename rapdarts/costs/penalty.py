"""Resource costs with fixed lambdas inside a search: ``sum_m lambda_m * C_m`` added to the alpha objective.

Measuring a cost and penalising it are separate (as in NNI's one-shot NAS): the providers price
ops, a :class:`~rapdarts.costs.table.CostTable` holds one stage's prices, and :class:`CostPenalty`
turns them into loss terms and per-epoch metrics (the expected cost under the alphas and the
actual cost of the genotype derived at that moment).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rapdarts.costs.evaluate import CostEvaluator
from rapdarts.costs.plugins import Providers
from rapdarts.costs.provider import CostProvider
from rapdarts.costs.table import CostTable, ExpectedCost, expected_cost, genotype_costs
from rapdarts.costs.target import Pricing, TargetNetwork
from rapdarts.data import DataShape
from rapdarts.extensions import SearchExtension
from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import primitives
from rapdarts.space.supernet import SearchNetwork

log = logging.getLogger("rapdarts")


class CostPenalty(SearchExtension):
    """Adds ``sum_m lambda_m * C_m`` to the alpha objective and logs expected and actual costs.

    ``weights`` maps cost names to lambdas; ``providers`` must know every name (an unknown name
    fails here, at construction, before any training starts). ``pricing`` says which network the
    ops are priced in.
    """

    def __init__(self, weights: Mapping[str, float], providers: Providers, pricing: Pricing = Pricing(),
                 evaluator: CostEvaluator | None = None):
        self.weights = dict(weights)
        self.providers: list[CostProvider] = providers.select(self.weights)
        self.pricing = pricing
        self.evaluator = evaluator or CostEvaluator()
        self.tables: list[CostTable] = []
        self.table_seconds: list[float] = []
        self.shape = DataShape()
        self.target = pricing.eval_target(self.shape)

    def prepare(self, shape: DataShape) -> None:
        """Price every op of the search space once, before anything is written: a provider that cannot answer
        (a missing or corrupt latency table, a plugin returning NaN) fails the search here."""
        self.shape = shape
        self.target = self.pricing.eval_target(shape)
        space = {cell: tuple(tuple(primitives()) for _ in edge_sources()) for cell in CELL_TYPES}
        checked = self.target if self.pricing.network == "eval" else \
            TargetNetwork(shape, self.pricing.init_channels, 3, self.pricing.batch, network="search")
        for provider in self.providers:
            CostTable.build(provider, checked, space, self.evaluator)
        self.evaluator.flush(self.providers)

    def loss_terms(self, model: SearchNetwork, stage: int) -> Sequence[ExpectedCost]:
        return [ExpectedCost(table, self.weights[table.provider.name]) for table in self.build_tables(model, stage)]

    def build_tables(self, model: SearchNetwork, stage: int) -> list[CostTable]:
        """Each provider's cost table for the stage that starts with ``model`` (kept in ``self.tables``)."""
        started = time.perf_counter()
        computed_before, cached_before = self.evaluator.computed, self.evaluator.cached
        self.target = self.pricing.target(self.shape, model)
        device = model.alphas_normal.device
        self.tables = [CostTable.build(p, self.target, model.candidates, self.evaluator).to(device)
                       for p in self.providers]
        self.evaluator.flush(self.providers)
        self.table_seconds.append(time.perf_counter() - started)
        log.info("cost tables (%s) for stage %d built in %.1fs: %d op costs computed, %d from cache",
                 ", ".join(p.name for p in self.providers), stage + 1, self.table_seconds[-1],
                 self.evaluator.computed - computed_before, self.evaluator.cached - cached_before)
        return self.tables

    def epoch_metrics(self, model: SearchNetwork, genotype: Genotype) -> dict[str, Any]:
        alphas = {cell: alpha.detach() for cell, alpha in model.alphas().items()}
        expected = {table.provider.name: float(expected_cost(alphas, table)) for table in self.tables}
        actual = genotype_costs(genotype, self.providers, self.target, self.evaluator)
        return {"expected_cost": expected, "genotype_cost": actual,
                "cost_units": {p.name: p.unit for p in self.providers}}

    def costs_of(self, genotype: Genotype, target: TargetNetwork | None = None) -> dict[str, float]:
        """The actual cost of ``genotype`` under every provider of this penalty."""
        return genotype_costs(genotype, self.providers, target or self.target, self.evaluator)
