"""Comparing runs side by side: test error, size, costs and latency (RAPDARTS Table I and Fig. 7).

A training run contributes its test error (``report.json``, or the last epoch of an unfinished
run) and its measured ONNX Runtime latency; a search run contributes its genotype, priced by the
same cost providers on the evaluation network its costs targeted, without a test error until
it is trained. Costs are recomputed for every run with the same providers, so columns compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.formatting import format_number
from rapdarts.plugins.provider import CostProvider, of_quantity
from rapdarts.space.genotype import load_genotype
from rapdarts.storage.atomic import atomic_write_json
from rapdarts.storage.rundir import RunDirectory
from rapdarts.train.checkpoint import run_kind
from rapdarts.train.config import TrainConfig
from rapdarts.train.report import cost_report, target_network


@dataclass
class RunSummary:
    """One run's row: ``error`` is a fraction (``None`` when untrained); costs by provider name."""

    name: str
    path: Path
    kind: str
    status: str
    error: float | None
    costs: dict[str, dict[str, Any]]
    onnx_latency_ms: float | None = None
    hours: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def cost(self, name: str) -> float | None:
        return self.costs.get(name, {}).get("value")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "kind": self.kind, "status": self.status,
                "test_error": self.error, "costs": self.costs, "onnx_latency_ms": self.onnx_latency_ms,
                "hours": self.hours}


def _dataset_shape(directory: RunDirectory) -> DataShape:
    environment = directory.read_json("environment.json")
    dataset = environment.get("dataset") or {}
    try:
        return DataShape.from_dict(dataset)
    except (KeyError, TypeError, ValueError):
        raise RapdartsError(f"{directory.file('environment.json')} does not describe the dataset shape") from None


def summarize_train_run(path: Path, providers: Sequence[CostProvider]) -> RunSummary:
    directory = RunDirectory(path)
    config = TrainConfig.from_dict(directory.read_json("config.json"), f"{path}/config.json")
    genotype = load_genotype(path)
    shape = _dataset_shape(directory)
    metrics = directory.read_jsonl("metrics.jsonl")
    latency = None
    if directory.file("report.json").exists():
        report = directory.read_json("report.json")
        error = report["test"]["error"] if report.get("test") else None
        onnx = report.get("onnx_latency") or {}
        latency = onnx.get("latency_ms", onnx.get("median_ms"))  # reports written before the latency statistic
        status = f"trained, {report['epoch']} epochs"
    elif metrics:
        error = 1.0 - metrics[-1]["test_acc"]
        status = f"unfinished, epoch {len(metrics)}/{config.epochs}"
    else:
        error, status = None, f"not started (0/{config.epochs} epochs)"
    costs = cost_report(genotype, providers, target_network(config, shape))
    hours = sum(row.get("seconds", 0.0) for row in metrics) / 3600
    return RunSummary(path.name, path, "train", status, error, costs, latency, hours,
                      {"C": config.init_channels, "cells": config.cells})


def summarize_search_run(path: Path, providers: Sequence[CostProvider]) -> RunSummary:
    directory = RunDirectory(path)
    config = directory.read_json("config.json")
    if not directory.file("genotype.json").exists():
        raise RapdartsError(f"search run {path} has no genotype.json yet; finish it with 'rapdarts search --resume "
                            f"{path}'")
    genotype = load_genotype(path)
    target = Pricing.from_settings(config).eval_target(_dataset_shape(directory))
    hours = sum(row.get("seconds", 0.0) for row in directory.read_jsonl("metrics.jsonl")) / 3600
    lambdas = ", ".join(f"{name}={value:g}" for name, value in (config.get("costs") or {}).items())
    status = "searched, not trained" + (f" (costs {lambdas})" if lambdas else "")
    return RunSummary(path.name, path, "search", status, None, cost_report(genotype, providers, target), None, hours,
                      {"C": target.init_channels, "cells": target.cells})


def summarize_runs(paths: Sequence[str | Path], providers: Sequence[CostProvider]) -> list[RunSummary]:
    """A row per run directory; a missing or unknown directory is a one-line error."""
    rows = []
    for path in map(Path, paths):
        kind = run_kind(path)
        rows.append(summarize_train_run(path, providers) if kind == "train" else summarize_search_run(path, providers))
    names = [row.name for row in rows]
    for row in rows:  # disambiguate equal directory names (runs/a/x and runs/b/x)
        if names.count(row.name) > 1:
            row.name = str(row.path)
    return rows


def format_table(rows: Sequence[RunSummary], cost_names: Sequence[str]) -> str:
    """A fixed-width table: run, kind, test error, each cost, measured ONNX latency, hours, status."""
    header = ["run", "kind", "test err %", *cost_names, "ORT ms", "hours", "status"]
    body = []
    for row in rows:
        cells = [row.name, row.kind, f"{100 * row.error:.2f}" if row.error is not None else "-"]
        for name in cost_names:
            value = row.cost(name)
            cells.append(format_number(value, 4) if value is not None else "n/a")
        cells.append(f"{row.onnx_latency_ms:.3f}" if row.onnx_latency_ms is not None else "-")
        cells += [f"{row.hours:.2f}", row.status]
        body.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    numeric = set(range(2, len(header) - 1))
    lines = ["  ".join(f"{c:>{w}}" if i in numeric else f"{c:{w}}" for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    errors = sorted({f"{name}: {row.costs[name]['error']}" for row in rows for name in cost_names
                     if "error" in row.costs.get(name, {})})
    lines += [f"n/a {message}" for message in errors]
    return "\n".join(lines)


def plot_rows(rows: Sequence[RunSummary], providers: Sequence[CostProvider]) -> tuple[list[dict[str, Any]], str]:
    """Points for :func:`~rapdarts.train.plots.plot_comparison` and the latency axis label.

    Parameters come from the first cost that counts them; latency from the first latency cost every
    run has (predicted, comparable for searched and trained runs alike), otherwise the measured ONNX
    Runtime latency of trained runs.
    """
    counters = of_quantity(providers, "parameters")
    params = counters[0].name if counters else None
    latency = next((p for p in of_quantity(providers, "latency") if all(row.cost(p.name) is not None for row in rows)),
                   None)
    label = f"latency ({latency.unit}, {latency.name})" if latency else "measured ONNX Runtime latency (ms)"
    points = [{"name": row.name, "error": row.error, "parameters": row.cost(params) if params else None,
               "time": row.cost(latency.name) if latency else row.onnx_latency_ms} for row in rows]
    return points, label


def write_json(rows: Sequence[RunSummary], path: str | Path) -> Path:
    return atomic_write_json(path, [row.to_dict() for row in rows])

