"""``flops``: fvcore's multiply-add count of an op (:mod:`rapdarts.costs.flops`), as a plugin."""

from __future__ import annotations

from rapdarts.costs.flops import flops_provider
from rapdarts.hookspecs import hookimpl


@hookimpl
def rapdarts_cost_providers():
    return [flops_provider()]
