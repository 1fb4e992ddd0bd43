"""Plot of the latency model against whole networks: predicted vs measured, with the y = x line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.plotting import pyplot, save_figure


def plot_validation(report: dict[str, Any], path: str | Path) -> None:
    """Predicted vs measured latency with the y = x line and a +-10% band."""
    plt = pyplot()
    rows = report["rows"]
    measured = np.array([r["measured_ms"] for r in rows])
    figure, axis = plt.subplots(figsize=(5.5, 5))
    axis.scatter(measured, [r["predicted_ms"] for r in rows], s=14, label="sum of table entries")
    if "corrected_ms" in rows[0]:
        axis.scatter(measured, [r["corrected_ms"] for r in rows], s=14, marker="x", label="calibrated")
    low, high = measured.min() * 0.8, measured.max() * 1.25
    line = np.linspace(low, high, 10)
    axis.plot(line, line, color="black", linewidth=1)
    axis.fill_between(line, line * 0.9, line * 1.1, color="grey", alpha=0.2, label="+-10%")
    axis.set(xlabel="measured latency (ms)", ylabel="predicted latency (ms)", title="additive latency model")
    axis.legend()
    save_figure(figure, path)
