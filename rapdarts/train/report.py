"""The final report of a trained network: test error, size, costs from every provider, measured latency.

Costs come from the same plugins the search optimises (``rapdarts costs``), priced on the network
that was trained (its width, depth, classes and input) at the deployment batch. A provider that
cannot answer (say, a latency provider without its table) is reported with its error message
instead of sinking the whole report. Costs that count parameters are cross-checked against the
parameters counted on the torch model; costs that can measure whole networks here (their provider
declares a measurer) are measured, next to their prediction. The ONNX Runtime latency of the
exported model is timed too, with the settings recorded next to it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from rapdarts.costs.cache import CostCache
from rapdarts.costs.table import genotype_costs
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.deploy.export import export_checked, measure_latency
from rapdarts.deploy.onnx_export import TimingSettings
from rapdarts.errors import RapdartsError
from rapdarts.formatting import format_number
from rapdarts.plugins.manager import Providers
from rapdarts.plugins.provider import CostProvider, of_quantity, report_order, target_notes
from rapdarts.runtime.evaluation import Evaluation
from rapdarts.space.genotype import Genotype
from rapdarts.space.network import EvalNetwork, count_parameters
from rapdarts.train.config import TrainConfig

log = logging.getLogger("rapdarts")


def select_providers(names: Sequence[str], providers: Providers, options: Mapping[str, str] | None = None
                     ) -> list[CostProvider]:
    """The providers named; when ``names`` is empty, every provider whose required options are in ``options``, in
    report order. Unknown names are an error."""
    if names:
        return providers.select(names)
    return [p for p in report_order(list(providers.by_name.values())) if not p.missing_options(options or {})]


def target_network(config: TrainConfig, shape: DataShape) -> TargetNetwork:
    """The network costs are priced on: the trained one, at the deployment batch."""
    return TargetNetwork(shape, config.init_channels, config.cells, batch=config.latency_batch)


def cost_report(genotype: Genotype, providers: Sequence[CostProvider], target: TargetNetwork,
                cache: CostCache | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"value", "unit", "package"}}`` per provider, or ``{"error": message}`` where it failed."""
    cache = cache or CostCache()
    costs: dict[str, dict[str, Any]] = {}
    for provider in providers:
        try:
            value = genotype_costs(genotype, [provider], target, cache)[provider.name]
            costs[provider.name] = {"value": value, "unit": provider.unit, "package": provider.package}
        except RapdartsError as error:
            log.debug("cost %s not reported: %s", provider.name, error)
            costs[provider.name] = {"error": str(error), "unit": provider.unit, "package": provider.package}
    return costs


def parameter_check(costs: dict[str, dict[str, Any]], providers: Sequence[CostProvider],
                    model: EvalNetwork) -> dict[str, Any]:
    """Each parameter-counting provider's count against the torch model's count without the auxiliary head."""
    counted = count_parameters(model).without_auxiliary
    matches = {}
    for provider in of_quantity(providers, "parameters"):
        value = costs.get(provider.name, {}).get("value")
        if value is None:
            continue
        matches[provider.name] = int(value) == counted
        if not matches[provider.name]:
            log.warning("the %s provider says %s parameters, the model has %s", provider.name, value, counted)
    return {"counted": counted, "matches": matches}


def measured_costs(genotype: Genotype, providers: Sequence[CostProvider], target: TargetNetwork,
                   costs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every cost whose provider can measure the network here, measured, next to its prediction (or why not)."""
    measured: dict[str, dict[str, Any]] = {}
    for provider in providers:
        if provider.measurer is None:
            continue
        reason = provider.measurer.unavailable()
        if reason is not None:
            measured[provider.name] = {"unit": provider.unit, "not_measured": reason}
            continue
        try:
            result = provider.measurer.measure([("network", genotype)], target)["network"]
        except RapdartsError as error:
            log.warning("%s not measured: %s", provider.name, error)
            measured[provider.name] = {"unit": provider.unit, "not_measured": str(error)}
            continue
        measured[provider.name] = {"unit": provider.unit, "where": provider.measurer.where(),
                                   "predicted": costs.get(provider.name, {}).get("value"), **result.to_dict()}
    return measured


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
    matches = report.get("parameter_check", {}).get("matches")
    matches = matches if isinstance(matches, dict) else {}
    for name, cost in report["costs"].items():
        if "value" in cost:
            note = cost["unit"]
            if name in matches:
                note += " (matches the model)" if matches[name] else " (DIFFERS from the model)"
            rows.append((f"cost: {name}", format_number(cost["value"], 4), note))
        else:
            rows.append((f"cost: {name}", "n/a", cost["error"]))
    for name, entry in report.get("measured", {}).items():
        if "value" in entry:
            predicted = entry.get("predicted")
            versus = f", predicted {format_number(predicted, 4)}" if predicted is not None else ""
            rows.append((f"measured: {name}", format_number(entry["value"], 4), f"{entry['unit']}{versus}; "
                         f"{entry['where']}"))
        else:
            rows.append((f"measured: {name}", "n/a", entry["not_measured"]))
    onnx = report.get("onnx_latency")
    if onnx and "median_ms" in onnx:
        timing = onnx["timing"]
        rows.append(("ONNX Runtime latency", f"{onnx.get('latency_ms', onnx['median_ms']):.3f}",
                     f"ms (p10 {onnx['p10_ms']:.3f}, p90 {onnx['p90_ms']:.3f}), batch {onnx['batch']}, "
                     f"{timing['intra_threads']} thread(s), {timing['provider']}, ORT vs torch max abs diff "
                     f"{report['onnx']['max_abs_diff']:.2g}"))
    elif onnx:
        rows.append(("ONNX Runtime latency", "n/a", onnx.get("error", "not measured")))
    width = max(len(label) for label, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines += [f"  {label:{width}}  {value:>{value_width}}  {note}" for label, value, note in rows]
    return "\n".join(lines)


def build_report(model: EvalNetwork, genotype: Genotype, genotype_source: str, config: TrainConfig, shape: DataShape,
                 dataset: str, test: Evaluation | None, epoch: int, providers: Sequence[CostProvider],
                 onnx_path: str | None = None) -> dict[str, Any]:
    """The report of a trained ``model``: ``test`` is its final evaluation on the test split.

    Exports the network to ONNX (written to ``onnx_path``), checks it against torch and times it
    when ``config.onnx_latency``; an export failure is recorded, not raised.
    """
    count = count_parameters(model)
    target = target_network(config, shape)
    notes = target_notes(providers, target)
    for note in notes:
        log.warning("warning: %s", note)
    costs = cost_report(genotype, providers, target)
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
        "parameter_check": parameter_check(costs, providers, model),
        "measured": measured_costs(genotype, providers, target, costs),
        "warnings": notes,
    }
    if config.onnx_latency:
        try:
            exported = export_checked(model, shape, onnx_path, batch=config.latency_batch)
            report["onnx"] = exported.to_dict()
            settings = TimingSettings(intra_threads=config.latency_threads)
            report["onnx_latency"] = {**measure_latency(exported, shape, settings), "settings_from": "latency_threads"}
        except RapdartsError as error:
            log.warning("ONNX latency not measured: %s", error)
            report["onnx_latency"] = {"error": str(error)}
    return report


def key_figures(report: Mapping[str, Any]) -> dict[str, Any]:
    """What tables of many trainings show of one ``report.json``: test error (a fraction), parameters without the
    auxiliary head, the measured ONNX Runtime latency (ms) and every cost a measurer timed (by name), with
    ``None`` where the report has no figure."""
    test = report.get("test") or {}
    onnx = report.get("onnx_latency") or {}
    return {"test_error": test.get("error"), "parameters": report["parameters"]["without_auxiliary"],
            "onnx_latency_ms": onnx.get("latency_ms", onnx.get("median_ms")),
            "measured": {name: entry["value"] for name, entry in (report.get("measured") or {}).items()
                         if "value" in entry},
            "train_seconds": report.get("train_seconds")}
