"""``latency``: an op's ONNX Runtime latency from a table measured on the target
(:mod:`rapdarts.latency.lookup`), as a plugin. Options: ``--cost-option latency.table=FILE`` and the
other ``latency.*`` keys that module documents; ``latency@NAME`` without a table option uses the
catalogue's table named ``NAME`` (``rapdarts profile --name NAME``). Whole networks are measured the
way the table was."""

from __future__ import annotations

from rapdarts.latency.lookup import table_latency_provider
from rapdarts.plugins import hookimpl


@hookimpl
def rapdarts_cost_providers(options, target):
    return [table_latency_provider("latency", options, order=2, target=target)]
