"""``latency``: an op's ONNX Runtime latency from a table measured on the target
(:mod:`rapdarts.latency.lookup`), as a plugin. Options: ``--cost-option latency.table=FILE`` and the
other ``latency.*`` keys that module documents."""

from __future__ import annotations

from rapdarts.hookspecs import hookimpl
from rapdarts.latency.lookup import latency_provider


@hookimpl
def rapdarts_cost_providers(options):
    return [latency_provider(options)]
