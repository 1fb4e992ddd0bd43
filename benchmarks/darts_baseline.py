"""A plain DARTS-style search network and its two steps: the baseline ``search_step.py`` times rapdarts against.

Written here, as the DARTS and P-DARTS papers formulate the search (``shared/reference/pdarts-facts.md``),
with none of rapdarts' savings:

* every candidate op is computed, ``none`` included (a stride-aware zero tensor);
* every op applies its own leading ReLU; pools are followed by a non-affine BN; an identity
  skip-connect is followed by dropout;
* both parameter groups require gradients in both steps, so the alpha step also computes weight
  gradients and the weight step alpha gradients, and every activation either could need is kept;
* no channels_last, no recomputation.

The op modules and the cell layout come from ``rapdarts.space`` (they are the published op
definitions, shared by both sides), so the two networks differ only in how the search is executed,
which is what the comparison is about.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rapdarts.space.layout import NODES, CellSpec, cell_layout, edge_sources, edge_stride
from rapdarts.space.network import preprocessing
from rapdarts.space.ops import build_op, op_info


class PlainMixedOp(nn.Module):
    """``sum_i w_i * op_i(x)`` over every candidate op."""

    def __init__(self, C: int, stride: int, names: tuple[str, ...]):
        super().__init__()
        ops = []
        for name in names:
            op = build_op(name, C, stride, affine=False)
            if op_info(name).family == "pool":
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            elif isinstance(op, nn.Identity):
                op = nn.Sequential(op, nn.Dropout(0.0))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class PlainCell(nn.Module):
    """Every intermediate node sums the mixed ops from all earlier states."""

    def __init__(self, spec: CellSpec, candidates: tuple[tuple[str, ...], ...]):
        super().__init__()
        self.spec = spec
        self.preprocess0, self.preprocess1 = preprocessing(spec, affine=False)
        self.edges = edge_sources(NODES)
        self.mixed_ops = nn.ModuleList(PlainMixedOp(spec.C, edge_stride(spec, source), names)
                                       for (_, source), names in zip(self.edges, candidates, strict=True))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(NODES):
            states.append(sum(self.mixed_ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[-4:], dim=1)


class PlainSearchNetwork(nn.Module):
    """Stem, cells (reductions at 1/3 and 2/3), global pooling and a linear classifier; alphas per cell type."""

    def __init__(self, init_channels: int, num_classes: int, cells: int, candidates: tuple[tuple[str, ...], ...]):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * init_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(3 * init_channels))
        self.layout = cell_layout(cells, init_channels, (32, 32), 3, 4)
        self.cells = nn.ModuleList(PlainCell(spec, candidates) for spec in self.layout)
        self.classifier = nn.Linear(4 * self.layout[-1].C, num_classes)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(len(candidates), len(candidates[0])))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(len(candidates), len(candidates[0])))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alphas_")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normal, reduce = F.softmax(self.alphas_normal, dim=-1), F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.spec.reduction else normal)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


class PlainSteps:
    """First-order DARTS: an Adam step on the alphas, then an SGD step on the weights (P-DARTS settings)."""

    def __init__(self, model: PlainSearchNetwork):
        self.model = model
        self.weights, self.arch = model.weight_parameters(), model.arch_parameters()
        self.optimizer = torch.optim.SGD(self.weights, 0.025, momentum=0.9, weight_decay=3e-4)
        self.arch_optimizer = torch.optim.Adam(self.arch, 6e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def alpha_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.arch_optimizer.zero_grad()
        F.cross_entropy(self.model(x), y).backward()
        nn.utils.clip_grad_norm_(self.arch, 5.0)
        self.arch_optimizer.step()

    def weight_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        F.cross_entropy(self.model(x), y).backward()
        nn.utils.clip_grad_norm_(self.weights, 5.0)
        self.optimizer.step()
