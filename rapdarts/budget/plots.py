"""Plot of a budget-targeted search: lambda and cost against the budget over the whole search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.storage.plotting import pyplot, save_figure


def _stage_lines(axis: Any, metrics: Sequence[Mapping[str, Any]]) -> None:
    for index in range(1, len(metrics)):
        if metrics[index]["stage"] != metrics[index - 1]["stage"]:
            axis.axvline(index, color="grey", linestyle=":", linewidth=0.8)


def plot_budgets(metrics: Sequence[Mapping[str, Any]], path: Path,
                 final: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Per budget: cost (per alpha step, predicted; per epoch, derived) against the budget, and lambda; with
    ``final`` (``budgets.json``'s budgets) the final genotype's predicted and measured cost after the last epoch.

    The x axis counts epochs over all stages; the alpha steps of epoch ``e`` lie in ``(e-1, e]``.
    """
    plt = pyplot()
    names = list(metrics[-1]["budgets"])
    figure, axes = plt.subplots(2, len(names), figsize=(6 * len(names), 7), squeeze=False, sharex=True)
    epochs = np.arange(1, len(metrics) + 1)
    for column, name in enumerate(names):
        cost_axis, lambda_axis = axes[0][column], axes[1][column]
        step_x, step_cost, step_lambda = [], [], []
        for epoch, row in enumerate(metrics):
            entry = row.get("budgets", {}).get(name)
            if not entry or not entry["step_cost"]:  # warm-up: no alpha steps; break the line
                step_x.append(epoch + 0.5)
                step_cost.append(np.nan)
                step_lambda.append(np.nan)
                continue
            count = len(entry["step_cost"])
            step_x.extend(epoch + (np.arange(count) + 1) / count)
            step_cost.extend(entry["step_cost"])
            step_lambda.extend(entry["step_lambda"])
        budget = metrics[-1]["budgets"][name]["budget"]
        unit = metrics[-1].get("cost_units", {}).get(name, "")
        cost_axis.plot(step_x, step_cost, linewidth=1, label="predicted (derivation-aware), per alpha step")
        cost_axis.plot(epochs, [row["genotype_cost"].get(name, np.nan) for row in metrics], marker="o",
                       linestyle="none", label="derived genotype, per epoch")
        cost_axis.plot(epochs, [row["expected_cost"].get(name, np.nan) for row in metrics], marker=".",
                       linewidth=0.8, label="14-edge expectation (paper)")
        cost_axis.axhline(budget, color="red", linestyle="--", label="budget")
        entry = (final or {}).get(name)
        if entry:
            end = len(metrics) + 0.6
            cost_axis.plot([end], [entry["final"]], marker="D", color="tab:green", linestyle="none",
                           label="final genotype, predicted")
            if entry.get("measured") is not None:
                cost_axis.plot([end], [entry["measured"]], marker="*", markersize=11, color="tab:purple",
                               linestyle="none", label="final genotype, measured")
        cost_axis.set(ylabel=unit, title=f"{name}: cost")
        cost_axis.legend(fontsize=7)
        lambda_axis.plot(step_x, step_lambda, linewidth=1)
        lambda_axis.set(xlabel="epoch (all stages)", ylabel="lambda", title=f"{name}: lambda (dual ascent)")
        for axis in (cost_axis, lambda_axis):
            _stage_lines(axis, metrics)
    figure.suptitle("Budget-targeted search (dotted: stage boundaries)")
    return save_figure(figure, path)
