"""The search network (supernet): cells of mixed ops weighted by softmax(alpha).

One set of architecture parameters per cell type (``alphas_normal``, ``alphas_reduce``; shape
``[edges, ops per edge]``) is shared by every cell of that type. Edges may have different
candidate ops (P-DARTS prunes per edge) but the same number of them.

Differences from the reference implementation that change speed and memory but not values:

* ``none`` is never evaluated: its output is zero, so its term in the weighted sum and its
  gradient contributions are exactly zero.
* The skip-connect dropout is applied only to the identity op (P-DARTS), as a module whose rate
  the search updates per epoch.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import reduce

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from rapdarts.space.layout import NODES, Candidates, CellSpec, cell_layout, edge_sources, edge_stride, node_edges
from rapdarts.space.network import preprocessing
from rapdarts.space.ops import Classifier, FactorizedReduce, Stem, build_op, is_zero, op_info

"""Candidate op names per edge, edges in :func:`rapdarts.space.layout.edge_sources` order."""


def _preactivated_body(op: nn.Module) -> nn.Module | None:
    """The part of ``op`` after a leading ReLU, so one ReLU per node can serve all its edges."""
    if isinstance(op, nn.Sequential) and isinstance(op[0], nn.ReLU):
        return nn.Sequential(*list(op)[1:])
    if isinstance(op, FactorizedReduce):
        return op.from_activated
    return None


class SubsampledDilatedConv(nn.Conv2d):
    """A depthwise conv with stride 2 and dilation 2, computed as a plain conv of the input's even rows and columns.

    Output ``(i, j)`` of such a conv reads only inputs at even positions (``2i + 2u - 2p``), so it is
    the dilation-1 conv of ``x[:, :, ::2, ::2]`` with half the padding: the same products, through
    the fast kernel. On CPU (oneDNN) forward plus backward takes a third to a ninth of the time of the
    dilated strided kernel; outputs are bit-identical, gradients agree up to float summation order.
    Used in reduction cells of the search network (``dil_conv`` on the cell inputs).
    """

    @classmethod
    def sharing(cls, conv: nn.Conv2d) -> SubsampledDilatedConv:
        """The same conv (its very weight parameter), computed the fast way."""
        fast = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                   conv.groups, bias=False)
        fast.weight = conv.weight
        return fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x[:, :, ::2, ::2], self.weight, None, 1, (self.padding[0] // 2, self.padding[1] // 2), 1,
                        self.groups)


def _with_fast_convs(op: nn.Module) -> nn.Module:
    """``op`` with every stride-2, dilation-2 conv replaced by its :class:`SubsampledDilatedConv` twin."""
    for parent in op.modules():
        for name, child in parent.named_children():
            if (type(child) is nn.Conv2d and child.stride == (2, 2) and child.dilation == (2, 2)
                    and child.padding[0] % 2 == 0 and child.padding[1] % 2 == 0 and child.bias is None):
                setattr(parent, name, SubsampledDilatedConv.sharing(child))
    return op


SAVED_PER_OP = {"sep_conv": 5.0, "dil_conv": 3.0, "pool": 2.0, "skip": 1.0}
"""Tensors of the node size an op of each family keeps for backward (ReLU outputs shared per node)."""


class MixedOp(nn.Module):
    """One edge: ``sum_i w_i * op_i(x)`` over the candidate ops, skipping ``none``.

    Ops that begin with a ReLU (separable and dilated convs, factorized reduce) are fed
    ``relu(x)`` computed once per node by the cell, which saves one activation per op.

    With ``recompute`` (the default) a training forward keeps none of the ops' intermediate
    activations: backward recomputes them from the edge input (gradient checkpointing). That
    trades about one extra forward pass for most of the search's activation memory; values and
    gradients are identical, and BN running statistics are updated once, as without it.
    """

    def __init__(self, C: int, stride: int, op_names: Sequence[str], fast_dilated: bool = False):
        super().__init__()
        self.op_names = tuple(op_names)
        self.stride = stride
        self.positions: list[int] = []  # index into the weight vector of each evaluated op
        ops = []
        for position, name in enumerate(self.op_names):
            if is_zero(name):
                continue
            op = build_op(name, C, stride, affine=False)
            if fast_dilated:
                op = _with_fast_convs(op)
            if op_info(name).family == "pool":
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            elif isinstance(op, nn.Identity):
                op = nn.Sequential(op, nn.Dropout(0.0))
            ops.append(op)
            self.positions.append(position)
        self.ops = nn.ModuleList(ops)
        # Plain list: the bodies share the ops' modules and must not register them twice.
        self._bodies = [_preactivated_body(op) for op in ops]
        self.needs_relu = any(body is not None for body in self._bodies)
        self._batch_norms = [m for m in self.ops.modules() if isinstance(m, nn.BatchNorm2d)]
        self.recompute = True

    def forward(self, x: torch.Tensor, weights: torch.Tensor, x_relu: torch.Tensor | None = None) -> torch.Tensor:
        """``x_relu`` is ``relu(x)`` if the caller already has it."""
        if not self.ops:
            return x[:, :, :: self.stride, :: self.stride] * 0.0
        if self.needs_relu and x_relu is None:
            x_relu = F.relu(x)
        if self.recompute and self.training and torch.is_grad_enabled():
            return checkpoint(self._mix, x, weights, x_relu, use_reentrant=False,
                              context_fn=lambda: (nullcontext(), _frozen_running_stats(self._batch_norms)))
        return self._mix(x, weights, x_relu)

    def _mix(self, x: torch.Tensor, weights: torch.Tensor, x_relu: torch.Tensor | None) -> torch.Tensor:
        total = None
        for position, op, body in zip(self.positions, self.ops, self._bodies):
            out = op(x) if body is None else body(x_relu)
            term = weights[position] * out
            total = term if total is None else total + term
        return total


@contextmanager
def _frozen_running_stats(batch_norms: list[nn.BatchNorm2d]) -> Iterator[None]:
    """Run a recomputation without updating BN running statistics a second time.

    With momentum 0 the running-stat update ``(1 - m) * r + m * batch`` leaves ``r`` bit-identical;
    the batch statistics used for the output are unaffected.
    """
    saved = [(bn.momentum, bn.num_batches_tracked.clone()) for bn in batch_norms]
    for bn in batch_norms:
        bn.momentum = 0.0
    try:
        yield
    finally:
        for bn, (momentum, tracked) in zip(batch_norms, saved):
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(tracked)


class SearchCell(nn.Module):
    """A cell of mixed ops; every intermediate node sums the mixed ops from all earlier nodes."""

    def __init__(self, spec: CellSpec, candidates: Candidates, nodes: int = NODES, multiplier: int = 4,
                 fast_dilated: bool = False):
        super().__init__()
        self.spec = spec
        self.multiplier = multiplier
        self.preprocess0, self.preprocess1 = preprocessing(spec, affine=False)
        self.edges = edge_sources(nodes)
        self.node_edges = node_edges(nodes)
        self.mixed_ops = nn.ModuleList(
            MixedOp(spec.C, edge_stride(spec, source), names, fast_dilated)
            for (_, source), names in zip(self.edges, candidates, strict=True)
        )

    def set_recompute(self, enabled: bool) -> None:
        """Recompute this cell's mixed-op activations in backward (or keep them)."""
        for mixed in self.mixed_ops:
            mixed.recompute = enabled

    def activation_bytes(self, batch: int, bytes_per_value: int = 4) -> int:
        """Roughly what this cell's mixed ops keep for backward without recomputation.

        Per evaluated op, :data:`SAVED_PER_OP` tensors of the node size (measured on CPU at the P-DARTS
        stage-1 configuration: about three per op on average).
        """
        height, width = self.spec.node_size
        values = batch * self.spec.C * height * width
        saved = sum(SAVED_PER_OP.get(op_info(name).family, 1.0) for mixed in self.mixed_ops for name in mixed.op_names
                    if not is_zero(name))
        return int(values * saved * bytes_per_value)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        activated: list[torch.Tensor | None] = [None] * len(self.edges)
        for edge_ids in self.node_edges:
            outputs = []
            for e in edge_ids:
                source = self.edges[e][1]
                if activated[source] is None and self.mixed_ops[e].needs_relu:
                    activated[source] = F.relu(states[source])
                outputs.append(self.mixed_ops[e](states[source], weights[e], activated[source]))
            states.append(reduce(operator.add, outputs))
        return torch.cat(states[-self.multiplier:], dim=1)


class SearchNetwork(nn.Module):
    """The supernet for one search stage.

    ``forward(x)`` returns logits; the architecture parameters are ``alphas_normal`` and
    ``alphas_reduce`` (``[edges, ops]``, initialised ``1e-3 * N(0, 1)`` as in DARTS).
    """

    def __init__(self, init_channels: int, num_classes: int, cells: int, candidates_normal: Candidates,
                 candidates_reduce: Candidates, in_channels: int = 3, image_size: tuple[int, int] = (32, 32),
                 nodes: int = NODES, multiplier: int = 4, stem_multiplier: int = 3, fast_dilated: bool = False):
        super().__init__()
        self.init_channels = init_channels
        self.candidates = {"normal": tuple(map(tuple, candidates_normal)),
                           "reduce": tuple(map(tuple, candidates_reduce))}
        self.stem = Stem(in_channels, stem_multiplier * init_channels)
        self.layout = cell_layout(cells, init_channels, image_size, stem_multiplier, multiplier)
        self.cells = nn.ModuleList(
            SearchCell(spec, self.candidates[spec.cell_type], nodes, multiplier, fast_dilated) for spec in self.layout
        )
        self.classifier = Classifier(multiplier * self.layout[-1].C, num_classes)
        num_edges = len(edge_sources(nodes))
        num_ops = {len(names) for names in self.candidates["normal"] + self.candidates["reduce"]}
        if len(num_ops) != 1:
            raise ValueError(f"every edge needs the same number of candidate ops, got {sorted(num_ops)}")
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(num_edges, num_ops.pop()))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn_like(self.alphas_normal))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alphas_")]

    def alphas(self) -> dict[str, nn.Parameter]:
        return {"normal": self.alphas_normal, "reduce": self.alphas_reduce}

    def probabilities(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) per cell type, ``[edges, ops]``, detached."""
        return {cell: F.softmax(alpha.detach(), dim=-1) for cell, alpha in self.alphas().items()}

    def set_recompute(self, enabled: bool) -> None:
        """Trade compute for memory by recomputing mixed-op activations in backward."""
        for cell in self.cells:
            cell.set_recompute(enabled)

    def plan_recompute(self, budget_bytes: float, batch: int) -> list[bool]:
        """Recompute the cells with the most activations first, until the others' fit in ``budget_bytes``.

        Returns, per cell, whether it is recomputed. Recomputation costs about one more forward pass
        of the cell; a cell whose activations fit is kept, which is faster.
        """
        sizes = [cell.activation_bytes(batch) for cell in self.cells]
        recompute = [False] * len(sizes)
        kept = sum(sizes)
        for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
            if kept <= budget_bytes:
                break
            recompute[index] = True
            kept -= sizes[index]
        for cell, enabled in zip(self.cells, recompute):
            cell.set_recompute(enabled)
        return recompute

    def set_skip_dropout(self, p: float) -> None:
        """Set the dropout rate applied after every identity skip-connect."""
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = {cell: F.softmax(alpha, dim=-1) for cell, alpha in self.alphas().items()}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights[cell.spec.cell_type])
        return self.classifier(s1)
