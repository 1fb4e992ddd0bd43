"""Plots of the latency model: predicted against measured whole networks, and what the calibration corrects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.storage.plotting import pyplot, save_figure


def plot_validation(report: Mapping[str, Any], path: str | Path) -> Path:
    """Left: each network's predicted latency (plain sum, calibrated, refit) against its measured one, with the
    y = x line and the 5% and 10% bands. Right: the calibration's scale per op group (1: the table is right)."""
    plt = pyplot()
    rows = report["rows"]
    measured = np.array([row["measured_ms"] for row in rows])
    figure, (scatter, bars) = plt.subplots(1, 2, figsize=(11.5, 5), gridspec_kw={"width_ratios": [1.1, 1]})
    series = [("uncalibrated_ms", "sum of ops timed alone", "o"), ("predicted_ms", "calibrated table", "x"),
              ("refit_ms", "refit (--calibrate)", "+")]
    for key, label, marker in series:
        if key in rows[0]:
            scatter.scatter(measured, [row[key] for row in rows], s=18, marker=marker, label=label)
    low, high = measured.min() * 0.8, measured.max() * 1.2
    line = np.linspace(low, high, 10)
    scatter.plot(line, line, color="black", linewidth=1)
    for share, alpha in ((0.10, 0.12), (0.05, 0.2)):
        scatter.fill_between(line, line * (1 - share), line * (1 + share), color="grey", alpha=alpha,
                             label=f"+-{share:.0%}")
    scatter.set(xlabel="measured latency (ms)", ylabel="predicted latency (ms)", title="whole networks")
    scatter.legend(fontsize=8)
    fitted = (report.get("refit") or report.get("calibration") or {}).get("scales", {})
    if fitted:
        groups = sorted(fitted)
        bars.barh(groups, [fitted[g] for g in groups], color="tab:blue")
        bars.axvline(1.0, color="black", linewidth=1)
        bars.set(xlabel="scale (1 = the op's time alone is right)", title="calibration: scale per op group")
    else:
        bars.text(0.5, 0.5, "uncalibrated table", ha="center", va="center", transform=bars.transAxes)
        bars.axis("off")
    figure.tight_layout()
    return save_figure(figure, path)
