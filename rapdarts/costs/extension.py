"""Resource costs in a search: builds each stage's cost tables and reports costs every epoch."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from torch import nn

from ..config import SearchConfig
from ..genotype import Genotype
from .evaluate import CostEvaluator
from .plugins import Providers, discover_providers
from .table import CostTable, ExpectedCost, expected_cost, genotype_costs
from .target import TargetNetwork

log = logging.getLogger("rapdarts")


def providers_for(config: SearchConfig, plugins: Iterable[object] = ()) -> Providers:
    """Discover providers as the config asks (blocked plugins, provider options, in-process plugins)."""
    providers = discover_providers(block=config.block_plugins, plugins=plugins, options=config.cost_options)
    for failure in providers.failures:
        log.warning("%s", failure.message())
    return providers


class CostExtension:
    """Adds ``sum_m lambda_m * C_m`` to the alpha objective and logs expected and actual costs.

    Unknown cost names fail here, at construction, before any training starts.
    """

    def __init__(self, config: SearchConfig, providers: Providers | None = None,
                 evaluator: CostEvaluator | None = None):
        self.config = config
        providers = providers if providers is not None else providers_for(config)
        self.providers = providers.select(config.costs)
        self.evaluator = evaluator or CostEvaluator()
        self.tables: list[CostTable] = []
        self.table_seconds: list[float] = []

    def target(self, model: nn.Module, stage: int) -> TargetNetwork:
        """The network costs are priced in, shaped like the search's data."""
        c = self.config
        classes = model.classifier.out_features
        in_channels = model.stem[0].in_channels
        image_size = tuple(model.layout[0].input_size)
        if c.cost_target == "search":
            return TargetNetwork(c.init_channels, c.cells[stage], classes, in_channels, image_size, c.cost_batch,
                                 network="search")
        return TargetNetwork(c.target_channels, c.target_cells, classes, in_channels, image_size, c.cost_batch)

    def loss_terms(self, model: nn.Module, stage: int) -> list[ExpectedCost]:
        return [ExpectedCost(table, self.config.costs[table.provider.name]) for table in self.build_tables(model, stage)]

    def build_tables(self, model: nn.Module, stage: int) -> list[CostTable]:
        """Each provider's cost table for the stage that starts with ``model`` (kept in ``self.tables``)."""
        started = time.perf_counter()
        computed_before, cached_before = self.evaluator.computed, self.evaluator.cached
        target = self.target(model, stage)
        self._target = target
        device = model.alphas_normal.device
        self.tables = [CostTable.build(p, target, model.candidates, self.evaluator).to(device) for p in self.providers]
        self.evaluator.flush(self.providers)
        self.table_seconds.append(time.perf_counter() - started)
        log.info("cost tables (%s) for stage %d built in %.1fs: %d op costs computed, %d from cache",
                 ", ".join(p.name for p in self.providers), stage + 1, self.table_seconds[-1],
                 self.evaluator.computed - computed_before, self.evaluator.cached - cached_before)
        return self.tables

    def epoch_metrics(self, model: nn.Module, genotype: Genotype) -> dict[str, Any]:
        alphas = {cell: alpha.detach() for cell, alpha in model.alphas().items()}
        expected = {table.provider.name: float(expected_cost(alphas, table)) for table in self.tables}
        actual = genotype_costs(genotype, self.providers, self._target, self.evaluator)
        return {"expected_cost": expected, "genotype_cost": actual,
                "cost_units": {p.name: p.unit for p in self.providers}}
