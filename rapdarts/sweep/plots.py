"""The sweep's plot, the paper's Figures 5 and 6: each search's derived cost against its lambda."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.storage.plotting import pyplot, save_figure


def plot_cost_vs_lambda(results: Sequence[Mapping[str, Any]], cost: str, budgets: Mapping[str, float],
                        units: Mapping[str, str], path: Path) -> Path:
    """One panel per cost: each finished search's derived cost against its lambda (log x), the budgets
    as lines; points green where the search meets every budget, red where it misses one."""
    plt = pyplot()
    from matplotlib.ticker import NullFormatter

    names = list(units)
    figure, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4.2), squeeze=False)
    lambdas = np.array([row["lambda"] for row in results], dtype=float)
    meets = np.array([bool(row["meets_all"]) for row in results])
    for axis, name in zip(axes[0], names):
        values = np.array([row["costs"][name] for row in results], dtype=float)
        axis.scatter(lambdas[meets], values[meets], color="tab:green", label="meets every budget", zorder=3)
        axis.scatter(lambdas[~meets], values[~meets], color="tab:red", marker="x", label="misses a budget", zorder=3)
        if name in budgets:
            axis.axhline(budgets[name], color="black", linestyle="--", label=f"budget {budgets[name]:,.4g}")
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels overlap
        axis.set(xlabel=f"lambda of {cost}", ylabel=units[name], title=name)
        axis.legend(fontsize=7)
    figure.suptitle(f"Derived cost vs lambda ({len(results)} searches)")
    return save_figure(figure, path)
