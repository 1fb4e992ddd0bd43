"""``params``: the analytical parameter count of an op (:func:`rapdarts.costs.params.parameter_count`), as a plugin."""

from __future__ import annotations

from rapdarts.costs.params import VERSION, parameter_count
from rapdarts.plugins import CostProvider, hookimpl


@hookimpl
def rapdarts_cost_providers():
    return [CostProvider("params", "parameters", "analytical parameter count (weights + affine BN)", parameter_count,
                         VERSION, quantity="parameters", order=0)]
