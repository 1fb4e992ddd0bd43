"""The target network costs are measured in, and the op specs it consists of.

By default costs are priced in the *evaluation* network the genotype will be trained and deployed
as (C=36, 20 cells, CIFAR layout), so an expected cost is a prediction in deployable units:
parameters, flops, milliseconds. The alternative is the search network itself (its width and
the current stage's depth, non-affine BNs).

Alphas are shared by every cell of a type, so the cost of candidate op ``i`` on edge ``e`` of
cell type ``t`` is summed over all cells of that type: one ``[edges, ops]`` matrix per type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..genotype import Genotype
from ..layout import CellSpec, cell_layout, edge_sources
from ..network import edge_stride
from .spec import OpSpec


@dataclass(frozen=True)
class TargetNetwork:
    """Shape of the network costs are priced in; ``network`` is ``eval`` or ``search``."""

    C: int = 36
    layers: int = 20
    num_classes: int = 10
    in_channels: int = 3
    image_size: tuple[int, int] = (32, 32)
    batch: int = 1
    dtype: str = "float32"
    network: str = "eval"
    stem_multiplier: int = 3

    def layout(self, multiplier: int | dict[str, int] = 4) -> list[CellSpec]:
        return cell_layout(self.layers, self.C, self.image_size, self.stem_multiplier, multiplier)

    def _spec(self, op: str, C_in: int, C_out: int, stride: int, size: tuple[int, int]) -> OpSpec:
        return OpSpec(op, C_in, C_out, stride, size[0], size[1], self.batch, self.dtype, self.network)

    def edge_spec(self, cell: CellSpec, source: int, op: str) -> OpSpec:
        """The spec of candidate ``op`` on an edge leaving node ``source`` of ``cell``."""
        size = cell.input_size if source < 2 else cell.node_size
        return self._spec(op, cell.C, cell.C, edge_stride(cell, source), size)

    def fixed_specs(self, multiplier: dict[str, int] | None = None, steps: int = 4) -> list[OpSpec]:
        """Specs of everything that does not depend on the choice of ops.

        Stem, each cell's two input preprocessors, one add per intermediate node, the concat of
        the cell output, and the classifier. The auxiliary head is not deployed, so not counted.
        """
        multiplier = multiplier or {"normal": steps, "reduce": steps}
        specs = [self._spec("stem", self.in_channels, self.stem_multiplier * self.C, 1, self.image_size)]
        layout = self.layout(multiplier)
        for cell in layout:
            if cell.reduction_prev:
                specs.append(self._spec("factorized_reduce", cell.C_prev_prev, cell.C, 2, cell.prev_prev_size))
            else:
                specs.append(self._spec("relu_conv_bn", cell.C_prev_prev, cell.C, 1, cell.prev_prev_size))
            specs.append(self._spec("relu_conv_bn", cell.C_prev, cell.C, 1, cell.input_size))
            specs.extend(self._spec("add", cell.C, cell.C, 1, cell.node_size) for _ in range(steps))
            specs.append(self._spec("concat", cell.C, multiplier[cell.cell_type] * cell.C, 1, cell.node_size))
        last = layout[-1]
        specs.append(self._spec("classifier", multiplier[last.cell_type] * last.C, self.num_classes, 1,
                                last.node_size))
        return specs

    def candidate_specs(self, cell_type: str, candidates: Sequence[Sequence[str]],
                        steps: int = 4) -> list[list[list[OpSpec]]]:
        """``specs[e][i]``: every cell's spec of candidate ``i`` on edge ``e`` (cells of ``cell_type``)."""
        cells = [cell for cell in self.layout() if cell.cell_type == cell_type]
        return [[[self.edge_spec(cell, source, op) for cell in cells] for op in names]
                for (_, source), names in zip(edge_sources(steps), candidates, strict=True)]

    def genotype_specs(self, genotype: Genotype) -> list[OpSpec]:
        """All op specs of the network built from ``genotype`` (cell ops and fixed parts)."""
        multiplier = {"normal": len(genotype.normal_concat), "reduce": len(genotype.reduce_concat)}
        specs = self.fixed_specs(multiplier, genotype.steps)
        for cell in self.layout(multiplier):
            edges, _ = genotype.cell(cell.cell_type)
            specs.extend(self.edge_spec(cell, source, op) for op, source in edges)
        return specs
