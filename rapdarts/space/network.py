"""The evaluation network: the CIFAR-style model a genotype is trained and deployed as.

Matches DARTS' ``NetworkCIFAR`` (and therefore P-DARTS'): affine BNs, no BN after pools, drop path
on every non-identity op during training, an auxiliary classifier after the second reduction
cell. Defaults are the published CIFAR-10 evaluation settings: 36 initial channels (C), 20 cells (DARTS, Liu et al.
2019, Sec. 3.3; P-DARTS, Chen et al. 2019, Sec. 4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rapdarts.space.genotype import Edge, Genotype
from rapdarts.space.layout import CellSpec, cell_layout, edge_stride, reduction_cells
from rapdarts.space.ops import Classifier, FactorizedReduce, ReLUConvBN, Stem, build_op


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (DARTS drop path)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


def preprocessing(spec: CellSpec, affine: bool) -> tuple[nn.Module, nn.Module]:
    """The two input preprocessors of a cell: factorized reduce after a reduction, else ReLU-conv-BN."""
    if spec.reduction_prev:
        first: nn.Module = FactorizedReduce(spec.C_prev_prev, spec.C, affine)
    else:
        first = ReLUConvBN(spec.C_prev_prev, spec.C, 1, 1, 0, affine)
    return first, ReLUConvBN(spec.C_prev, spec.C, 1, 1, 0, affine)


class EvalCell(nn.Module):
    """A cell with a fixed op per edge, two edges per node."""

    def __init__(self, spec: CellSpec, edges: tuple[Edge, ...], concat: tuple[int, ...]):
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocessing(spec, affine=True)
        self.sources = [source for _, source in edges]
        self.concat = list(concat)
        self.ops = nn.ModuleList(build_op(op, spec.C, edge_stride(spec, source), True) for op, source in edges)
        self.identity = [isinstance(op, nn.Identity) for op in self.ops]

    def _edge(self, position: int, states: list[torch.Tensor], drop_prob: float) -> torch.Tensor:
        h = self.ops[position](states[self.sources[position]])
        if self.training and not self.identity[position]:
            h = drop_path(h, drop_prob)
        return h

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            first, second = (self._edge(position, states, drop_prob) for position in (2 * node, 2 * node + 1))
            states.append(first + second)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' CIFAR auxiliary classifier, fed the 8x8 output of the second reduction cell."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),  # DARTS has inplace=True here, which rewrites the cell output
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 5:  # inputs smaller than CIFAR's (e.g. 8x8 digits): same head, pooled to 2x2
            x = F.adaptive_avg_pool2d(F.relu(x), 2)
            x = self.features[2:](x)
        else:
            x = self.features(x)
        return self.classifier(x.flatten(1))


EVAL_CHANNELS = 36
"""Width C of the published CIFAR-10 evaluation network (DARTS, Liu et al. 2019, Sec. 3.3; P-DARTS Sec. 4.2)."""
EVAL_CELLS = 20
"""Cells of the published CIFAR-10 evaluation network."""


class EvalNetwork(nn.Module):
    """The network a genotype is trained as (DARTS ``NetworkCIFAR``).

    ``forward`` returns ``(logits, aux_logits)``; ``aux_logits`` is ``None`` unless training with
    the auxiliary head. ``drop_path_prob`` is an attribute so a trainer can ramp it per epoch.
    """

    def __init__(self, genotype: Genotype, init_channels: int = EVAL_CHANNELS, num_classes: int = 10,
                 cells: int = EVAL_CELLS,
                 auxiliary: bool = True, in_channels: int = 3, image_size: tuple[int, int] = (32, 32),
                 stem_multiplier: int = 3):
        super().__init__()
        self.genotype = genotype
        self.drop_path_prob = 0.0
        self.stem = Stem(in_channels, stem_multiplier * init_channels)
        multipliers = {"normal": len(genotype.normal_concat), "reduce": len(genotype.reduce_concat)}
        self.layout = cell_layout(cells, init_channels, image_size, stem_multiplier, multipliers)
        self.cells = nn.ModuleList(EvalCell(spec, *genotype.cell(spec.cell_type)) for spec in self.layout)
        self.auxiliary_index = reduction_cells(cells)[1]
        C_out = multipliers[self.layout[-1].cell_type] * self.layout[-1].C
        self.auxiliary_head = None
        if auxiliary:
            aux_spec = self.layout[self.auxiliary_index]
            self.auxiliary_head = AuxiliaryHead(multipliers[aux_spec.cell_type] * aux_spec.C, num_classes)
        self.classifier = Classifier(C_out, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        aux_logits = None
        s0 = s1 = self.stem(x)
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if index == self.auxiliary_index and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(s1)
        return logits, aux_logits


@dataclass(frozen=True)
class ParameterCount:
    """Parameter counts; the literature quotes ``without_auxiliary``."""

    total: int
    without_auxiliary: int

    @property
    def auxiliary(self) -> int:
        return self.total - self.without_auxiliary


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count parameters, excluding those whose name contains ``auxiliary`` for the quoted figure."""
    total = without = 0
    for name, parameter in model.named_parameters():
        total += parameter.numel()
        if "auxiliary" not in name:
            without += parameter.numel()
    return ParameterCount(total, without)
