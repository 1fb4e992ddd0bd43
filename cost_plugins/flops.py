"""``flops``: fvcore's multiply-add count of an op (:func:`rapdarts.costs.flops.op_flops`), as a plugin."""

from __future__ import annotations

from rapdarts.costs.flops import VERSION, op_flops
from rapdarts.plugins import CostProvider, hookimpl


@hookimpl
def rapdarts_cost_providers():
    return [CostProvider("flops", "flops (multiply-adds)", "fvcore FlopCountAnalysis, one multiply-add = one flop",
                         op_flops, VERSION, quantity="flops", order=1)]
