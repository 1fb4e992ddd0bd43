"""``surrogate``: op latency (ms) predicted by a scikit-learn model of this device, fitted on a designed sample of
op timings and calibrated on whole networks (:mod:`rapdarts.latency.surrogate_cost`), as a plugin; needs
``--cost-option surrogate.model=FILE``."""

from __future__ import annotations

from rapdarts.latency.surrogate_cost import surrogate_provider
from rapdarts.plugins import hookimpl


@hookimpl
def rapdarts_cost_providers(options):
    return [surrogate_provider("surrogate", options, order=3)]
