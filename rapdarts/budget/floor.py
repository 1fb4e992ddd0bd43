"""The range a budget can lie in: the cheapest and the dearest architecture the search space allows.

A budget below the floor cannot be met by any genotype, so it is refused before a search starts,
with the floor in the message; one at or above the ceiling cannot bind, which is worth a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from rapdarts.budget.derived_cost import extreme_cost
from rapdarts.budget.values import Budget
from rapdarts.costs.cache import CostCache
from rapdarts.costs.table import CostTable
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.formatting import format_number
from rapdarts.plugins.provider import CostProvider
from rapdarts.space.genotype import CELL_TYPES
from rapdarts.space.layout import edge_sources

log = logging.getLogger("rapdarts")


def cost_range(provider: CostProvider, primitives: Sequence[str], max_skip_connects: int | None,
               target: TargetNetwork, cache: CostCache | None = None) -> tuple[float, float]:
    """``(floor, ceiling)``: the cheapest and dearest genotype the search space allows for ``provider``.

    The floor is every kept edge at its cheapest op of ``primitives`` other than ``none`` (at most
    ``max_skip_connects`` skip-connects in the normal cell) plus the fixed parts.
    """
    candidates = {cell: tuple(tuple(primitives) for _ in edge_sources()) for cell in CELL_TYPES}
    table = CostTable.build(provider, target, candidates, cache or CostCache())
    return (extreme_cost(table, candidates, True, max_skip_connects),
            extreme_cost(table, candidates, False, max_skip_connects))


def check_budgets(budgets: Mapping[str, Budget], providers: Sequence[CostProvider], primitives: Sequence[str],
                  max_skip_connects: int | None, target: TargetNetwork,
                  cache: CostCache | None = None) -> dict[str, tuple[float, float]]:
    """``{name: (floor, ceiling)}``; a budget below its floor is a one-line error giving the floor."""
    by_name = {provider.name: provider for provider in providers}
    ranges = {}
    for name, budget in budgets.items():
        floor, ceiling = cost_range(by_name[name], primitives, max_skip_connects, target, cache)
        ranges[name] = (floor, ceiling)
        if budget.value < floor:
            raise RapdartsError(f"budget {name}={budget.text} is below the cheapest architecture this search space "
                                f"allows ({budget.describe(floor)} in the {target.init_channels}-channel, "
                                f"{target.cells}-cell evaluation network); raise the budget to at least "
                                f"{format_number(floor)}, or shrink --target-channels/--target-cells")
        if budget.value >= ceiling:
            log.warning("budget %s=%s is at or above the dearest architecture of the search space (%s): it cannot "
                        "bind", name, budget.text, budget.describe(ceiling))
    return ranges
