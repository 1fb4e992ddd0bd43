"""The target network costs are measured in, and the op specs it consists of.

By default costs are priced in the *evaluation* network the genotype will be trained and deployed
as (C=36, 20 cells, CIFAR layout), so an expected cost is a prediction in deployable units:
parameters, flops, milliseconds. The alternative is the search network itself (its width and
the current stage's depth, non-affine BNs). :class:`Pricing` says which, as a search is configured
(``--cost-target``, ``--target-channels``, ``--target-cells``, ``--cost-batch``).

Alphas are shared by every cell of a type, so the cost of candidate op ``i`` on edge ``e`` of
cell type ``t`` is summed over all cells of that type: one ``[edges, ops]`` matrix per type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapdarts.costs.spec import OpSpec
from rapdarts.data import DataShape
from rapdarts.space.genotype import Genotype
from rapdarts.space.layout import NODES, CellSpec, cell_layout, edge_sources, edge_stride
from rapdarts.space.network import EVAL_CELLS, EVAL_CHANNELS, EvalNetwork
from rapdarts.space.supernet import SearchNetwork


@dataclass(frozen=True)
class TargetNetwork:
    """Shape of the network costs are priced in; ``network`` is ``eval`` or ``search``."""

    shape: DataShape = field(default_factory=DataShape)
    init_channels: int = EVAL_CHANNELS
    cells: int = EVAL_CELLS
    batch: int = 1
    dtype: str = "float32"
    network: str = "eval"
    stem_multiplier: int = 3

    @property
    def num_classes(self) -> int:
        return self.shape.num_classes

    @property
    def in_channels(self) -> int:
        return self.shape.in_channels

    @property
    def image_size(self) -> tuple[int, int]:
        return self.shape.image_size

    def describe(self) -> str:
        kind = "evaluation" if self.network == "eval" else "search"
        return (f"{kind} network C={self.init_channels}, {self.cells} cells, {self.num_classes} classes, "
                f"{self.in_channels}x{self.image_size[0]}x{self.image_size[1]} input, batch {self.batch}")

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape.to_dict(), "init_channels": self.init_channels, "cells": self.cells,
                "batch": self.batch, "dtype": self.dtype, "network": self.network,
                "stem_multiplier": self.stem_multiplier}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetNetwork:
        """The inverse of :meth:`to_dict` (a latency table's header records its target this way)."""
        return cls(DataShape.from_dict(data["shape"]), int(data["init_channels"]), int(data["cells"]),
                   int(data["batch"]), str(data["dtype"]), str(data["network"]), int(data["stem_multiplier"]))

    def build(self, genotype: Genotype, auxiliary: bool = False) -> EvalNetwork:
        """The evaluation network of ``genotype`` at this target's shape (in train mode, untrained)."""
        return EvalNetwork(genotype, self.init_channels, self.num_classes, self.cells, auxiliary, self.in_channels,
                           self.image_size, self.stem_multiplier)

    def layout(self, multiplier: int | dict[str, int] = 4) -> list[CellSpec]:
        return cell_layout(self.cells, self.init_channels, self.image_size, self.stem_multiplier, multiplier)

    def _spec(self, op: str, C_in: int, C_out: int, stride: int, size: tuple[int, int]) -> OpSpec:
        return OpSpec(op, C_in, C_out, stride, size[0], size[1], self.batch, self.dtype, self.network)

    def edge_spec(self, cell: CellSpec, source: int, op: str) -> OpSpec:
        """The spec of candidate ``op`` on an edge leaving node ``source`` of ``cell``."""
        size = cell.input_size if source < 2 else cell.node_size
        return self._spec(op, cell.C, cell.C, edge_stride(cell, source), size)

    def fixed_specs(self, multiplier: dict[str, int] | None = None, nodes: int = NODES) -> list[OpSpec]:
        """Specs of everything that does not depend on the choice of ops.

        Stem, each cell's two input preprocessors, one add per intermediate node, the concat of
        the cell output, and the classifier. The auxiliary head is not deployed, so not counted.
        """
        multiplier = multiplier or {"normal": nodes, "reduce": nodes}
        specs = [self._spec("stem", self.in_channels, self.stem_multiplier * self.init_channels, 1, self.image_size)]
        layout = self.layout(multiplier)
        for cell in layout:
            if cell.reduction_prev:
                specs.append(self._spec("factorized_reduce", cell.C_prev_prev, cell.C, 2, cell.prev_prev_size))
            else:
                specs.append(self._spec("relu_conv_bn", cell.C_prev_prev, cell.C, 1, cell.prev_prev_size))
            specs.append(self._spec("relu_conv_bn", cell.C_prev, cell.C, 1, cell.input_size))
            specs.extend(self._spec("add", cell.C, cell.C, 1, cell.node_size) for _ in range(nodes))
            specs.append(self._spec("concat", cell.C, multiplier[cell.cell_type] * cell.C, 1, cell.node_size))
        last = layout[-1]
        specs.append(self._spec("classifier", multiplier[last.cell_type] * last.C, self.num_classes, 1,
                                last.node_size))
        return specs

    def candidate_specs(self, cell_type: str, candidates: Sequence[Sequence[str]],
                        nodes: int = NODES) -> list[list[list[OpSpec]]]:
        """``specs[e][i]``: every cell's spec of candidate ``i`` on edge ``e`` (cells of ``cell_type``)."""
        cells = [cell for cell in self.layout() if cell.cell_type == cell_type]
        return [[[self.edge_spec(cell, source, op) for cell in cells] for op in names]
                for (_, source), names in zip(edge_sources(nodes), candidates, strict=True)]

    def genotype_specs(self, genotype: Genotype) -> list[OpSpec]:
        """All op specs of the network built from ``genotype`` (cell ops and fixed parts)."""
        multiplier = {"normal": len(genotype.normal_concat), "reduce": len(genotype.reduce_concat)}
        specs = self.fixed_specs(multiplier, genotype.nodes)
        for cell in self.layout(multiplier):
            edges, _ = genotype.cell(cell.cell_type)
            specs.extend(self.edge_spec(cell, source, op) for op, source in edges)
        return specs


@dataclass(frozen=True)
class Pricing:
    """Which network a search prices its costs in: the evaluation network, or each stage's search network."""

    network: str = "eval"
    init_channels: int = EVAL_CHANNELS
    """Width of the evaluation network (ignored when pricing in the search network)."""
    cells: int = EVAL_CELLS
    """Cells of the evaluation network (ignored when pricing in the search network)."""
    batch: int = 1
    search_channels: int = 16
    """Width of the search network (pricing in the search network)."""
    search_cells: tuple[int, ...] = (5, 11, 17)
    """Cells of each stage's search network (pricing in the search network)."""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Pricing:
        """From a search's settings (its ``config.json``): ``cost_target``, ``target_channels``,
        ``target_cells`` and ``cost_batch``, with the published evaluation network as the default, and the search
        network's ``init_channels`` and ``cells``."""
        return cls(str(settings.get("cost_target", "eval")), int(settings.get("target_channels", EVAL_CHANNELS)),
                   int(settings.get("target_cells", EVAL_CELLS)), int(settings.get("cost_batch", 1)),
                   int(settings.get("init_channels", 16)), tuple(int(c) for c in settings.get("cells", (5, 11, 17))))

    def targets(self, shape: DataShape) -> list[TargetNetwork]:
        """Every network costs will be priced in: the evaluation network, or each stage's search network."""
        if self.network == "search":
            return [TargetNetwork(shape, self.search_channels, cells, self.batch, network="search")
                    for cells in self.search_cells]
        return [self.eval_target(shape)]

    def eval_target(self, shape: DataShape) -> TargetNetwork:
        """The evaluation network a searched genotype is trained and deployed as."""
        return TargetNetwork(shape, self.init_channels, self.cells, self.batch)

    def target(self, shape: DataShape, model: SearchNetwork) -> TargetNetwork:
        """Where the costs of the stage that searches ``model`` are priced."""
        if self.network == "search":
            return TargetNetwork(shape, model.init_channels, len(model.cells), self.batch, network="search")
        return self.eval_target(shape)
