"""``params``: the analytical parameter count of an op (:mod:`rapdarts.costs.params`), as a plugin."""

from __future__ import annotations

from rapdarts.costs.params import params_provider
from rapdarts.hookspecs import hookimpl


@hookimpl
def rapdarts_cost_providers():
    return [params_provider()]
