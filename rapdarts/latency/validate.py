"""Is the additive latency model right? Predict whole networks from the table and measure them.

For each architecture (random genotypes and derived ones), the prediction is the sum of its ops'
table costs (overhead once, optional calibration); the measurement exports the whole evaluation
network to ONNX and times it with the table's own settings. Reported: Pearson r, Kendall tau,
mean (signed) and mean absolute relative error, and the share within +-10% (nn-Meter's metric).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rapdarts.costs.target import TargetNetwork
from rapdarts.deploy.onnx_export import export_onnx, time_model
from rapdarts.errors import RapdartsError
from rapdarts.latency.calibration import corrected_latency, fit_correction, group_totals
from rapdarts.latency.profile import measure_spec
from rapdarts.latency.table import LatencyTable
from rapdarts.progress import progress_bar
from rapdarts.space.genotype import Genotype
from rapdarts.space.layout import NODES
from rapdarts.space.ops import primitives


def random_genotype(rng: random.Random, ops: Sequence[str] | None = None, nodes: int = NODES) -> Genotype:
    """A uniformly random valid cell pair: two distinct inputs per node, any non-'none' op."""
    ops = [op for op in (ops or primitives()) if op != "none"]
    cells = []
    for _ in range(2):
        edges = []
        for node in range(2, nodes + 2):
            edges.extend((rng.choice(ops), source) for source in sorted(rng.sample(range(node), 2)))
        cells.append(edges)
    concat = tuple(range(2, nodes + 2))
    return Genotype(cells[0], concat, cells[1], concat)


@dataclass
class Architecture:
    name: str
    genotype: Genotype
    entries: list  # (spec, table median) for every op of the network
    measured_ms: float = math.nan


def table_entries(table: LatencyTable, genotype: Genotype, target: TargetNetwork) -> list:
    """``(spec, median_ms)`` for every op of the network; missing ops are measured if possible."""
    entries = []
    for spec in target.genotype_specs(genotype):
        if spec.op == "none":
            continue
        entry = table.lookup(spec)
        if entry is None:
            if not table.measured_here():
                raise RapdartsError(f"op {spec.describe()} is missing from latency table {table.path}")
            table.add(spec, measure_spec(spec, table.settings))
            entry = table.lookup(spec)
        entries.append((spec, entry["median_ms"]))
    return entries


def predict(table: LatencyTable, architecture: Architecture, header: dict[str, Any] | None = None) -> float:
    header = header if header is not None else table.header
    return sum(corrected_latency(header, spec, median) for spec, median in architecture.entries)


def measure_network(genotype: Genotype, target: TargetNetwork, table: LatencyTable) -> float:
    """Median ONNX Runtime latency (ms) of the whole network of ``genotype``, timed with the table's settings."""
    network = target.build(genotype).eval()
    example = torch.randn(target.batch, target.in_channels, *target.image_size)
    data = export_onnx(network, example, what="the whole network")
    return time_model(data, example.numpy(), table.settings).median_ms


def agreement(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Pearson r, Kendall tau, mean and mean-absolute relative error, share within +-10%."""
    from scipy.stats import kendalltau, pearsonr

    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    relative = (p - m) / m
    result = {"n": int(len(p)), "mean_error": float(relative.mean()), "mean_abs_error": float(np.abs(relative).mean()),
              "within_10pct": float((np.abs(relative) <= 0.10).mean()), "max_abs_error": float(np.abs(relative).max())}
    if len(p) >= 3 and np.ptp(p) > 0 and np.ptp(m) > 0:
        result["pearson_r"] = float(pearsonr(p, m)[0])
        result["kendall_tau"] = float(kendalltau(p, m)[0])
    return result


def validate(table: LatencyTable, target: TargetNetwork, genotypes: Sequence[tuple[str, Genotype]], samples: int,
             seed: int = 0, calibrate: bool = False, progress: bool = True) -> dict[str, Any]:
    """Measure ``genotypes`` plus ``samples`` random ones and compare with the table's prediction.

    With ``calibrate``, every other random architecture forms the calibration set, a per-group
    correction is fitted on it and stored in the table, and agreement is reported on the other half
    (held out) before and after.
    """
    rng = random.Random(seed)
    chosen = list(genotypes) + [(f"random-{i}", random_genotype(rng)) for i in range(samples)]
    architectures = []
    with progress_bar(len(chosen), "measuring networks", progress) as bar:
        for name, genotype in chosen:
            architecture = Architecture(name, genotype, table_entries(table, genotype, target))
            architecture.measured_ms = measure_network(genotype, target, table)
            architectures.append(architecture)
            bar.update(1)
    table.save()  # keeps ops measured on demand
    uncorrected = {**table.header, "correction": None}
    rows = [{"name": a.name, "genotype": a.genotype.to_dict(), "measured_ms": a.measured_ms,
             "predicted_ms": predict(table, a, uncorrected)} for a in architectures]
    report: dict[str, Any] = {"table": str(table.path), "target": target.to_dict(),
                              "settings": table.settings.to_dict(), "rows": rows}
    if not calibrate:
        if table.header.get("correction"):
            for row, architecture in zip(rows, architectures):
                row["corrected_ms"] = predict(table, architecture)
            report["corrected"] = agreement([r["corrected_ms"] for r in rows], [r["measured_ms"] for r in rows])
        report["uncorrected"] = agreement([r["predicted_ms"] for r in rows], [r["measured_ms"] for r in rows])
        return report
    fit_idx = [i for i in range(len(architectures)) if i % 2 == 0]
    held_idx = [i for i in range(len(architectures)) if i % 2 == 1]
    if len(fit_idx) < 4 or len(held_idx) < 2:
        raise RapdartsError("--calibrate needs at least 6 architectures (raise --samples)")
    scale = fit_correction([group_totals(table.header, architectures[i].entries) for i in fit_idx],
                           [architectures[i].measured_ms for i in fit_idx])
    calibrated = {**table.header, "correction": {"scale": scale}}
    for row, architecture in zip(rows, architectures):
        row["corrected_ms"] = predict(table, architecture, calibrated)
        row["calibration_set"] = False
    for i in fit_idx:
        rows[i]["calibration_set"] = True
    held = [rows[i] for i in held_idx]
    report["held_out_uncorrected"] = agreement([r["predicted_ms"] for r in held], [r["measured_ms"] for r in held])
    report["held_out_corrected"] = agreement([r["corrected_ms"] for r in held], [r["measured_ms"] for r in held])
    table.header["correction"] = {"scale": scale, "fitted_on": len(fit_idx),
                                  "held_out": report["held_out_corrected"]}
    table.save()
    report["correction"] = table.header["correction"]
    return report
