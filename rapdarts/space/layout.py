"""Macro-architecture shared by the search and evaluation networks: channels and resolutions.

The DARTS CIFAR macro layout: a 3x3 stem to ``stem_multiplier * C`` channels, then ``cells``
cells; the cells at ``cells // 3`` and ``2 * cells // 3`` reduce the resolution by two and
double the channel count. A cell's output concatenates ``multiplier`` nodes of ``C`` channels.

Both networks and the cost tables (which need the shape each op sees) use :func:`cell_layout`, so
they cannot disagree about where a cell sits or what it sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CellSpec:
    """Where one cell sits in the network and the tensor shapes around it.

    ``C`` is the channel count of every node inside the cell. ``input_size`` is the ``(H, W)`` of
    the cell's preprocessed inputs (nodes 0 and 1); ``prev_prev_size`` the raw size of input 0
    before preprocessing (twice ``input_size`` after a reduction cell). ``node_size`` is the size
    of the intermediate nodes (halved in a reduction cell).
    """

    index: int
    reduction: bool
    reduction_prev: bool
    C_prev_prev: int
    C_prev: int
    C: int
    prev_prev_size: tuple[int, int]
    input_size: tuple[int, int]

    @property
    def cell_type(self) -> str:
        return "reduce" if self.reduction else "normal"

    @property
    def node_size(self) -> tuple[int, int]:
        if not self.reduction:
            return self.input_size
        return tuple(-(-side // 2) for side in self.input_size)  # type: ignore[return-value]


def reduction_cells(cells: int) -> tuple[int, int]:
    """Indices of the two reduction cells: one third and two thirds of the depth."""
    return cells // 3, 2 * cells // 3


def cell_layout(cells: int, init_channels: int, image_size: tuple[int, int], stem_multiplier: int = 3,
                multiplier: int | Mapping[str, int] = 4) -> list[CellSpec]:
    """The :class:`CellSpec` of every cell of a ``cells``-cell network whose first cell has ``init_channels``.

    ``multiplier`` is the number of nodes a cell concatenates; the evaluation network passes one
    per cell type (``{"normal": len(normal_concat), "reduce": len(reduce_concat)}``).
    """
    multipliers = multiplier if isinstance(multiplier, Mapping) else {"normal": multiplier, "reduce": multiplier}
    reductions = reduction_cells(cells)
    C_prev_prev = C_prev = stem_multiplier * init_channels
    size_prev_prev = size_prev = tuple(image_size)
    C_curr = init_channels
    reduction_prev = False
    specs = []
    for index in range(cells):
        reduction = index in reductions
        if reduction:
            C_curr *= 2
        spec = CellSpec(index, reduction, reduction_prev, C_prev_prev, C_prev, C_curr,
                        size_prev_prev, size_prev)  # type: ignore[arg-type]
        specs.append(spec)
        size_prev_prev, size_prev = size_prev, spec.node_size
        C_prev_prev, C_prev = C_prev, multipliers[spec.cell_type] * C_curr
        reduction_prev = reduction
    return specs


NODES = 4
"""Intermediate nodes per cell in the DARTS search space (each sums two kept incoming edges)."""

Candidates = tuple[tuple[str, ...], ...]
"""The candidate ops of every edge of a cell, in :func:`edge_sources` order (what a search stage may pick from)."""

NETWORKS = ("eval", "search")
"""The two networks built from this layout: the evaluation network a genotype is trained as (affine BNs) and the
search network (non-affine BNs, a BN after pools); costs are priced in one of them."""


def edge_sources(nodes: int = NODES) -> list[tuple[int, int]]:
    """``(node, source)`` of every edge in DARTS order: node 2 from 0, 1; node 3 from 0, 1, 2; ...

    With the default four nodes these are the 14 mixed ops of a search cell.
    """
    return [(node, source) for node in range(2, nodes + 2) for source in range(node)]


def node_edges(nodes: int = NODES) -> list[range]:
    """Indices (into :func:`edge_sources`) of the edges entering each intermediate node, node 2 first."""
    groups, start = [], 0
    for node in range(2, nodes + 2):
        groups.append(range(start, start + node))
        start += node
    return groups


def edge_index(node: int, source: int) -> int:
    """The index in :func:`edge_sources` of the edge from ``source`` into ``node``."""
    return node * (node - 1) // 2 - 1 + source


def edge_stride(spec: CellSpec, source: int) -> int:
    """Edges leaving the two cell inputs of a reduction cell have stride 2."""
    return 2 if spec.reduction and source < 2 else 1
