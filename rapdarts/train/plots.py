"""Plots of trained networks: the learning curve of a run, and error against size and latency of many."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.formatting import format_number
from rapdarts.storage.plotting import pyplot, save_figure


def plot_learning_curve(metrics: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Train and test loss, top-1 error and the learning rate per epoch."""
    plt = pyplot()
    figure, (loss_axis, error_axis, lr_axis) = plt.subplots(1, 3, figsize=(15, 4))
    x = np.arange(1, len(metrics) + 1)
    for key, label in (("train", "train (augmented, drop path)"), ("test", "test")):
        loss_axis.plot(x, [m[f"{key}_loss"] for m in metrics], marker=".", label=label)
        error_axis.plot(x, [100 * (1 - m[f"{key}_acc"]) for m in metrics], marker=".", label=label)
    lr_axis.plot(x, [m["lr"] for m in metrics], marker=".", color="C0")
    drop_axis = lr_axis.twinx()
    drop_axis.plot(x, [m["drop_path_prob"] for m in metrics], marker=".", color="C1")
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    error_axis.set(xlabel="epoch", ylabel="top-1 error (%)", title="error")
    lr_axis.set(xlabel="epoch", title="schedules")
    lr_axis.set_ylabel("learning rate", color="C0")
    drop_axis.set_ylabel("drop-path probability", color="C1")
    for axis in (loss_axis, error_axis):
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_comparison(rows: Sequence[dict[str, Any]], path: Path, latency_label: str = "latency (ms)",
                    budgets: Mapping[str, float] | None = None, best: str | None = None, heading: str = "") -> Path:
    """Test error (%) against parameters and against latency; runs without a test error sit on the x axis.

    Each row has ``name``, ``error`` (fraction or ``None``), ``parameters`` and ``time`` (a latency, or ``None``);
    untrained (searched) runs are drawn as hollow markers under the axis, as in RAPDARTS Fig. 7.
    ``budgets`` (by panel: ``parameters``, ``time``) are drawn as vertical lines; the row named ``best`` is starred.
    """
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = {row["name"]: plt.cm.tab10(i % 10) for i, row in enumerate(rows)}
    for axis, key, label, scale, title in ((axes[0], "parameters", "parameters (millions)", 1e-6, "parameters"),
                                           (axes[1], "time", latency_label, 1.0, "latency")):
        trained = [r for r in rows if r.get("error") is not None and _finite(r.get(key))]
        untrained = [r for r in rows if r.get("error") is None and _finite(r.get(key))]
        for row in trained:
            axis.scatter(row[key] * scale, 100 * row["error"], color=colors[row["name"]], s=45, zorder=3)
            if row["name"] == best:
                axis.scatter(row[key] * scale, 100 * row["error"], marker="*", s=320, facecolors="none",
                             edgecolors="black", zorder=4, label=f"best: {best}")
            axis.annotate(row["name"], (row[key] * scale, 100 * row["error"]), textcoords="offset points",
                          xytext=(5, 4), fontsize=8)
        low = min([100 * r["error"] for r in trained], default=0.0)
        high = max([100 * r["error"] for r in trained], default=1.0)
        floor = low - 0.15 * max(high - low, 1.0)
        for row in untrained:
            axis.scatter(row[key] * scale, floor, facecolors="none", edgecolors=colors[row["name"]], s=45,
                         marker="^", zorder=3)
            axis.annotate(row["name"] + " (not trained)", (row[key] * scale, floor), textcoords="offset points",
                          xytext=(5, 4), fontsize=7, color="0.35")
        missing = [r["name"] for r in rows if not _finite(r.get(key))]
        if missing:
            label += "\n(no value: " + ", ".join(missing) + ")"
        if untrained:
            axis.axhline(floor + 0.05 * max(high - low, 1.0), color="0.7", linestyle=":", linewidth=0.8)
        if (budgets or {}).get(key) is not None:
            axis.axvline(budgets[key] * scale, color="black", linestyle="--", linewidth=1,
                         label=f"budget {format_number(budgets[key], 4)}")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
        axis.margins(x=0.25)
        axis.set_xlim(left=0)
        axis.set(xlabel=label, ylabel="test top-1 error (%)", title=f"error vs {title}")
        axis.grid(alpha=0.3)
    if heading:
        figure.suptitle(heading)
    return save_figure(figure, path)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
