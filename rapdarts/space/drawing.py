"""A drawing of a genotype's two cells (nodes and labelled edges), laid out by hand so no graphviz is needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.storage.plotting import pyplot, save_figure


def _node_position(node: int, nodes: int) -> tuple[float, float]:
    if node == 0:
        return 0.0, 1.6
    if node == 1:
        return 0.0, -1.6
    index = node - 2
    return 1.6 + 1.5 * index, 1.0 if index % 2 == 0 else -1.0


def _draw_cell(axis: Any, edges: Sequence[tuple[str, int]], concat: Sequence[int], title: str) -> None:
    nodes = len(edges) // 2
    names = sorted({op for op, _ in edges})
    palette = {name: pyplot().cm.Set1(i % 9) for i, name in enumerate(names)}
    output = (1.6 + 1.5 * nodes, 0.0)
    labels = {0: "c_{k-2}", 1: "c_{k-1}"}
    for position, (op, source) in enumerate(edges):
        target = 2 + position // 2
        start, end = _node_position(source, nodes), _node_position(target, nodes)
        bend = 0.25 if position % 2 else -0.25
        axis.annotate("", xy=end, xytext=start, arrowprops=dict(
            arrowstyle="-|>", color=palette[op], lw=1.6, shrinkA=14, shrinkB=14, connectionstyle=f"arc3,rad={bend}"))
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + bend * 0.6)
        axis.text(*mid, op, fontsize=7, ha="center", va="center", color=palette[op],
                  bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    for node in concat:
        axis.annotate("", xy=output, xytext=_node_position(node, nodes),
                      arrowprops=dict(arrowstyle="-|>", color="0.6", lw=1, shrinkA=14, shrinkB=16))
    for node in range(nodes + 2):
        x, y = _node_position(node, nodes)
        color = "#cde4f7" if node < 2 else "#fbe3b5"
        axis.text(x, y, labels.get(node, str(node - 2)), ha="center", va="center", fontsize=9,
                  bbox=dict(boxstyle="round,pad=0.4", fc=color, ec="0.3"))
    axis.text(*output, "c_{k}", ha="center", va="center", fontsize=9,
              bbox=dict(boxstyle="round,pad=0.4", fc="#d5f0d0", ec="0.3"))
    axis.set_xlim(-0.8, output[0] + 0.8)
    axis.set_ylim(-2.4, 2.4)
    axis.set_title(title)
    axis.axis("off")


def plot_cells(genotype: Genotype, path: Path, title: str = "") -> Path:
    """Draw the normal and the reduction cell of ``genotype``."""
    plt = pyplot()
    figure, axes = plt.subplots(2, 1, figsize=(10, 8))
    for axis, cell in zip(axes, CELL_TYPES):
        _draw_cell(axis, *genotype.cell(cell), f"{cell} cell")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
