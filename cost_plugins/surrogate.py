"""``surrogate``: op latency (ms) predicted by a scikit-learn model fitted on a latency table
(:mod:`rapdarts.latency.surrogate`), as a plugin; needs ``--cost-option surrogate.model=FILE``."""

from __future__ import annotations

from rapdarts.latency.surrogate import surrogate_provider
from rapdarts.plugins import hookimpl


@hookimpl
def rapdarts_cost_providers(options):
    return [surrogate_provider("surrogate", options, order=3)]
