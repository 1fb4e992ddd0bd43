"""Resource costs with fixed lambdas inside a search: ``sum_m lambda_m * C_m`` added to the alpha objective.

Measuring a cost and penalising it are separate (as in NNI's one-shot NAS): the providers price
ops, :class:`~rapdarts.costs.stage_costs.StageCosts` holds each stage's prices, and
:class:`CostPenalty` turns them into loss terms and per-epoch metrics (the expected cost under the
alphas and the actual cost of the genotype derived at that moment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rapdarts.costs.cache import CostCache
from rapdarts.costs.stage_costs import StageCosts
from rapdarts.costs.table import ExpectedCost
from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape
from rapdarts.plugins.extensions import SearchExtension
from rapdarts.plugins.manager import Providers
from rapdarts.space.genotype import Genotype
from rapdarts.space.supernet import SearchNetwork


class CostPenalty(SearchExtension):
    """Adds ``sum_m lambda_m * C_m`` to the alpha objective and logs expected and actual costs.

    ``weights`` maps cost names to lambdas; ``providers`` must know every name (an unknown name
    fails here, at construction, before any training starts). ``pricing`` says which network the
    ops are priced in.
    """

    def __init__(self, weights: Mapping[str, float], providers: Providers, pricing: Pricing = Pricing(),
                 cache: CostCache | None = None):
        self.weights = dict(weights)
        self.costs = StageCosts(providers.select(self.weights), pricing, cache)

    def prepare(self, shape: DataShape) -> None:
        self.costs.prepare(shape)

    def loss_terms(self, model: SearchNetwork, stage: int) -> Sequence[ExpectedCost]:
        return [ExpectedCost(table, self.weights[table.provider.name]) for table in self.costs.build(model, stage)]

    def epoch_metrics(self, model: SearchNetwork, genotype: Genotype) -> dict[str, Any]:
        return self.costs.metrics(model, genotype)
