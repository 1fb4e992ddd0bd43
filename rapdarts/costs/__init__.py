"""Resource costs: op specs, providers discovered as plugins, cost tables and expected costs."""

from .evaluate import CostEvaluator
from .plugins import PluginFailure, Providers, discover_providers, get_plugin_manager
from .provider import CostProvider
from .spec import FIXED_OPS, OpSpec, build_module, example_input
from .table import CostTable, ExpectedCost, expected_cost, genotype_costs
from .target import TargetNetwork

__all__ = [
    "CostEvaluator", "PluginFailure", "Providers", "discover_providers", "get_plugin_manager", "CostProvider",
    "FIXED_OPS", "OpSpec", "build_module", "example_input", "CostTable", "ExpectedCost", "expected_cost",
    "genotype_costs", "TargetNetwork",
]
