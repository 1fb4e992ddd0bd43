"""Resource costs: op specs, providers discovered as plugins, cost tables, expected costs and the
fixed-lambda penalty that adds them to a search."""

from rapdarts.costs.cache import CostCache
from rapdarts.costs.penalty import CostPenalty
from rapdarts.costs.spec import FIXED_OPS, OpSpec, build_module, example_input
from rapdarts.costs.table import CostTable, ExpectedCost, expected_cost, genotype_costs
from rapdarts.costs.target import Pricing, TargetNetwork
from rapdarts.plugins.manager import PluginFailure, PluginManager, Providers, discover_providers, get_plugin_manager
from rapdarts.plugins.provider import CostProvider

__all__ = [
    "CostCache", "CostPenalty", "PluginFailure", "PluginManager", "Providers", "discover_providers",
    "get_plugin_manager", "CostProvider", "FIXED_OPS", "OpSpec", "build_module", "example_input", "CostTable",
    "ExpectedCost", "expected_cost", "genotype_costs", "Pricing", "TargetNetwork",
]
