"""Resource costs: op specs, providers discovered as plugins, cost tables, expected costs and the
fixed-lambda penalty that adds them to a search."""

from rapdarts.costs.evaluate import CostEvaluator
from rapdarts.costs.penalty import CostPenalty
from rapdarts.costs.plugins import PluginFailure, PluginManager, Providers, discover_providers, get_plugin_manager
from rapdarts.costs.provider import CostProvider
from rapdarts.costs.spec import FIXED_OPS, OpSpec, build_module, example_input
from rapdarts.costs.table import CostTable, ExpectedCost, expected_cost, genotype_costs
from rapdarts.costs.target import Pricing, TargetNetwork

__all__ = [
    "CostEvaluator", "CostPenalty", "PluginFailure", "PluginManager", "Providers", "discover_providers",
    "get_plugin_manager", "CostProvider", "FIXED_OPS", "OpSpec", "build_module", "example_input", "CostTable",
    "ExpectedCost", "expected_cost", "genotype_costs", "Pricing", "TargetNetwork",
]
