"""Plots of a search: alpha heatmaps per stage, alphas over time, metrics, costs, and the two cells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.space.drawing import plot_cells
from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import primitives
from rapdarts.storage.plotting import pyplot, save_figure


def _edge_labels() -> list[str]:
    return [f"{node - 2}<-{'c_k-2' if src == 0 else 'c_k-1' if src == 1 else src - 2}"
            for node, src in edge_sources()]


def _op_columns(candidates: Sequence[Sequence[str]]) -> list[str]:
    present = {name for names in candidates for name in names}
    ordered = [name for name in primitives() if name in present]
    return ordered + sorted(present - set(ordered))


def _softmax(rows: Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(rows, dtype=float)
    array = np.exp(array - array.max(axis=1, keepdims=True))
    return array / array.sum(axis=1, keepdims=True)


def plot_stage_heatmap(record: dict[str, Any], path: Path) -> Path:
    """softmax(alpha) per edge and op at the end of a stage; pruned ops are blank."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(13, 6.5))
    for axis, cell in zip(axes, CELL_TYPES):
        candidates = record["candidates"][cell]
        columns = _op_columns(candidates)
        grid = np.full((len(candidates), len(columns)), np.nan)
        for edge, (names, probs) in enumerate(zip(candidates, record["probabilities"][cell])):
            for name, p in zip(names, probs):
                grid[edge, columns.index(name)] = p
        image = axis.imshow(grid, cmap="viridis", vmin=0.0, vmax=max(np.nanmax(grid), 1e-9), aspect="auto")
        for (row, col), value in np.ndenumerate(grid):
            if not math.isnan(value):
                axis.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                          color="white" if value < 0.6 * np.nanmax(grid) else "black")
        axis.set_xticks(range(len(columns)), columns, rotation=40, ha="right")
        axis.set_yticks(range(len(candidates)), _edge_labels())
        axis.set_title(f"{cell} cell")
        figure.colorbar(image, ax=axis, fraction=0.04)
    figure.suptitle(f"Stage {record['stage']} ({record['cells']} cells): softmax(alpha) at stage end")
    return save_figure(figure, path)


def plot_alpha_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Probability of every candidate op on every edge over all epochs (one panel per edge)."""
    plt = pyplot()
    names = [name for name in primitives()]
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(names)}
    edges = len(edge_sources())
    figure, axes = plt.subplots(2 * 2, math.ceil(edges / 2), figsize=(18, 10), sharex=True, sharey=True)
    x = np.arange(1, len(history) + 1)
    for block, cell in enumerate(CELL_TYPES):
        for edge in range(edges):
            axis = axes[2 * block + edge // math.ceil(edges / 2)][edge % math.ceil(edges / 2)]
            series: dict[str, list[float]] = {}
            for t, snapshot in enumerate(history):
                probs = _softmax(snapshot["alphas"][cell])[edge]
                for name, p in zip(snapshot["candidates"][cell][edge], probs):
                    series.setdefault(name, [np.nan] * len(history))[t] = p
            for name, values in series.items():
                axis.plot(x, values, color=colors.get(name, "black"), label=name, linewidth=1.2)
            axis.set_title(f"{cell} {_edge_labels()[edge]}", fontsize=8)
    stage_starts = [i + 1 for i, s in enumerate(history) if i and s["stage"] != history[i - 1]["stage"]]
    for axis in axes.flat:
        for start in stage_starts:
            axis.axvline(start - 0.5, color="grey", linestyle=":", linewidth=0.8)
    handles = [plt.Line2D([], [], color=colors[n], label=n) for n in names]
    figure.legend(handles=handles, loc="lower center", ncol=len(names), fontsize=8)
    figure.suptitle("softmax(alpha) per edge over epochs (dotted: stage boundaries)")
    return save_figure(figure, path)


def plot_metrics(metrics: list[dict[str, Any]], path: Path) -> Path:
    """Training and validation accuracy and loss per epoch, with stage boundaries."""
    plt = pyplot()
    figure, (acc_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(1, len(metrics) + 1)
    for key, label in (("train", "train (weight half)"), ("valid", "valid (alpha half)")):
        acc_axis.plot(x, [m[f"{key}_acc"] for m in metrics], marker=".", label=label)
        loss_axis.plot(x, [m[f"{key}_loss"] for m in metrics], marker=".", label=label)
    for i in range(1, len(metrics)):
        if metrics[i]["stage"] != metrics[i - 1]["stage"]:
            for axis in (acc_axis, loss_axis):
                axis.axvline(i + 0.5, color="grey", linestyle=":")
    acc_axis.set(xlabel="epoch (all stages)", ylabel="accuracy", title="accuracy")
    loss_axis.set(xlabel="epoch (all stages)", ylabel="cross-entropy", title="loss")
    acc_axis.legend()
    return save_figure(figure, path)


def plot_costs(metrics: list[dict[str, Any]], path: Path) -> Path:
    """Per cost: the expected cost C_m under the alphas and the actual cost of the derived genotype."""
    plt = pyplot()
    names = list(metrics[-1]["expected_cost"])
    figure, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False)
    x = np.arange(1, len(metrics) + 1)
    for axis, name in zip(axes[0], names):
        axis.plot(x, [m["expected_cost"].get(name, np.nan) for m in metrics], marker=".", label="expected C (alphas)")
        axis.plot(x, [m["genotype_cost"].get(name, np.nan) for m in metrics], marker=".",
                  label="derived genotype")
        for i in range(1, len(metrics)):
            if metrics[i]["stage"] != metrics[i - 1]["stage"]:
                axis.axvline(i + 0.5, color="grey", linestyle=":")
        unit = metrics[-1].get("cost_units", {}).get(name, "")
        axis.set(xlabel="epoch (all stages)", ylabel=unit, title=name)
        axis.legend()
    return save_figure(figure, path)


def write_search_plots(directory: Path, metrics: list[dict[str, Any]], history: list[dict[str, Any]],
                       stages: list[dict[str, Any]], genotype: Genotype) -> list[Path]:
    """All plots of a finished search into ``directory``."""
    directory = Path(directory)
    written = [plot_stage_heatmap(record, directory / f"alphas_stage{record['stage']}.png") for record in stages]
    if history:
        written.append(plot_alpha_history(history, directory / "alphas_over_time.png"))
    if metrics:
        written.append(plot_metrics(metrics, directory / "metrics.png"))
    if metrics and metrics[-1].get("expected_cost"):
        written.append(plot_costs(metrics, directory / "costs.png"))
    written.append(plot_cells(genotype, directory / "cells.png", "derived genotype"))
    return written
