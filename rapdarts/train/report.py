"""The final report of a trained network: test error, size, costs from every provider, measured latency.

Costs come from the same plugins the search optimises (``rapdarts costs``), priced on the network
that was trained (its width, depth, classes and input) at the deployment batch. A provider that
cannot answer (say, a latency provider without its table) is reported with its error message
instead of sinking the whole report. The ``params`` provider is cross-checked against the
parameters counted on the torch model. The measured latency is that of the exported ONNX model
under ONNX Runtime, with the timing settings recorded next to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rapdarts.costs.evaluate import CostEvaluator
from rapdarts.costs.plugins import Providers
from rapdarts.costs.provider import CostProvider
from rapdarts.costs.table import genotype_costs
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.deploy.export import export_checked, measure_latency
from rapdarts.deploy.onnx_export import TimingSettings
from rapdarts.errors import RapdartsError
from rapdarts.evaluation import Evaluation
from rapdarts.formatting import format_number
from rapdarts.latency.table import LatencyTable
from rapdarts.space.genotype import Genotype
from rapdarts.space.network import EvalNetwork, count_parameters
from rapdarts.train.config import TrainConfig

log = logging.getLogger("rapdarts")
PREFERRED_ORDER = {"params": 0, "flops": 1, "latency": 2}
"""Column order of the usual costs; other providers follow alphabetically."""


def select_providers(names: Sequence[str], providers: Providers) -> list[CostProvider]:
    """The providers named (when ``names`` is empty, every one, the usual first); unknown names are an error."""
    return providers.select(names or sorted(providers.by_name, key=lambda n: (PREFERRED_ORDER.get(n, 99), n)))


def target_network(config: TrainConfig, shape: DataShape) -> TargetNetwork:
    """The network costs are priced on: the trained one, at the deployment batch."""
    return TargetNetwork(shape, config.init_channels, config.cells, batch=config.latency_batch)


def cost_report(genotype: Genotype, providers: Sequence[CostProvider], target: TargetNetwork,
                evaluator: CostEvaluator | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"value", "unit", "package"}}`` per provider, or ``{"error": message}`` where it failed."""
    evaluator = evaluator or CostEvaluator()
    costs: dict[str, dict[str, Any]] = {}
    for provider in providers:
        try:
            value = genotype_costs(genotype, [provider], target, evaluator)[provider.name]
            costs[provider.name] = {"value": value, "unit": provider.unit, "package": provider.package}
        except RapdartsError as error:
            log.debug("cost %s not reported: %s", provider.name, error)
            costs[provider.name] = {"error": str(error), "unit": provider.unit, "package": provider.package}
    return costs


def parameter_check(costs: dict[str, dict[str, Any]], model: EvalNetwork) -> dict[str, Any]:
    """The ``params`` provider's count against the torch model's count without the auxiliary head."""
    counted = count_parameters(model).without_auxiliary
    check: dict[str, Any] = {"counted": counted}
    if "value" in costs.get("params", {}):
        check["provider"] = costs["params"]["value"]
        check["matches"] = int(costs["params"]["value"]) == counted
        if not check["matches"]:
            log.warning("the params provider says %s parameters, the model has %s", costs["params"]["value"], counted)
    return check


def network_description(genotype_source: str, config: TrainConfig, shape: DataShape) -> dict[str, Any]:
    return {"genotype_source": genotype_source, "init_channels": config.init_channels, "cells": config.cells,
            **shape.to_dict()}


def format_report(report: dict[str, Any]) -> str:
    """A readable table of a report written by :class:`rapdarts.train.loop.Trainer` (or ``report.json``)."""
    net = report["network"]
    cells = net.get("cells", net.get("layers"))  # reports written before the rename say "layers"
    lines = [f"{net['genotype_source']}: C={net['init_channels']}, {cells} cells, "
             f"{net['num_classes']} classes, {net['in_channels']}x{net['image_size'][0]}x{net['image_size'][1]} input"]
    rows: list[tuple[str, str, str]] = []
    test = report.get("test")
    if test:
        rows.append(("test top-1 error", f"{100 * test['error']:.2f}", f"% on {test['images']:,} {report['dataset']} "
                     f"test images after epoch {report['epoch']}/{report['epochs']}"))
    params = report["parameters"]
    rows.append(("parameters", f"{params['without_auxiliary']:,}", f"without the auxiliary head "
                 f"({params['with_auxiliary']:,} with it)"))
    for name, cost in report["costs"].items():
        if "value" in cost:
            note = cost["unit"]
            if name == "params" and "matches" in report.get("parameter_check", {}):
                note += " (matches the model)" if report["parameter_check"]["matches"] else " (DIFFERS from the model)"
            rows.append((f"cost: {name}", format_number(cost["value"], 4), note))
        else:
            rows.append((f"cost: {name}", "n/a", cost["error"]))
    onnx = report.get("onnx_latency")
    if onnx and "median_ms" in onnx:
        timing = onnx["timing"]
        rows.append(("ONNX Runtime latency", f"{onnx['median_ms']:.3f}",
                     f"ms median (p10 {onnx['p10_ms']:.3f}, p90 {onnx['p90_ms']:.3f}), batch {onnx['batch']}, "
                     f"{timing['intra_threads']} thread(s), {timing['provider']}, ORT vs torch max abs diff "
                     f"{report['onnx']['max_abs_diff']:.2g}"))
    elif onnx:
        rows.append(("ONNX Runtime latency", "n/a", onnx.get("error", "not measured")))
    width = max(len(label) for label, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines += [f"  {label:{width}}  {value:>{value_width}}  {note}" for label, value, note in rows]
    return "\n".join(lines)


def latency_settings(config: TrainConfig) -> tuple[TimingSettings, str]:
    """How the trained network's latency is timed: like the latency table the report prices latency with
    (``latency.table``, when this machine made it), so predicted and measured latency compare; else one
    session setting of the config (``latency_threads``)."""
    path = config.cost_options.get("latency.table")
    if path:
        table = LatencyTable.load(path)
        if table.measured_here():
            return table.settings, f"latency table {path}"
    return TimingSettings(intra_threads=config.latency_threads), "latency_threads"


def build_report(model: EvalNetwork, genotype: Genotype, genotype_source: str, config: TrainConfig, shape: DataShape,
                 dataset: str, test: Evaluation | None, epoch: int, providers: Sequence[CostProvider],
                 onnx_path: str | None = None) -> dict[str, Any]:
    """The report of a trained ``model``: ``test`` is its final evaluation on the test split.

    Exports the network to ONNX (written to ``onnx_path``), checks it against torch and times it
    when ``config.onnx_latency``; an export failure is recorded, not raised.
    """
    count = count_parameters(model)
    costs = cost_report(genotype, providers, target_network(config, shape))
    report: dict[str, Any] = {
        "network": network_description(genotype_source, config, shape),
        "genotype": genotype.to_dict(),
        "dataset": dataset,
        "epoch": epoch,
        "epochs": config.epochs,
        "test": {"error": test.error, "accuracy": test.accuracy, "loss": test.loss, "images": test.images}
        if test is not None else None,
        "parameters": {"without_auxiliary": count.without_auxiliary, "with_auxiliary": count.total},
        "costs": costs,
        "parameter_check": parameter_check(costs, model),
    }
    if config.onnx_latency:
        try:
            exported = export_checked(model, shape, onnx_path, batch=config.latency_batch)
            report["onnx"] = exported.to_dict()
            settings, source = latency_settings(config)
            report["onnx_latency"] = {**measure_latency(exported, shape, settings), "settings_from": source}
        except RapdartsError as error:
            log.warning("ONNX latency not measured: %s", error)
            report["onnx_latency"] = {"error": str(error)}
    return report
