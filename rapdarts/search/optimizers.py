"""The two optimizers of a first-order search and their steps: an alpha step and a weight step (DARTS/P-DARTS).

An alpha step minimises the full objective (cross-entropy plus weighted cost terms) over the
architecture parameters on a batch from the alpha half of the data; a weight step minimises the
cross-entropy over the network weights on the weight half. Each step makes autograd see only the
parameters it updates, so no gradient (and no activation saved for one) is computed for the
other group; the reference implementation computes both and discards half.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from rapdarts.runtime.device import autocast
from rapdarts.runtime.distributed import sum_gradients
from rapdarts.runtime.schedules import set_lr
from rapdarts.search.config import SearchConfig
from rapdarts.search.loss import SearchLoss
from rapdarts.space.supernet import SearchNetwork


@contextmanager
def training_only(frozen: list[nn.Parameter]) -> Iterator[None]:
    """Hide ``frozen`` from autograd for the duration (no gradients, no saved activations)."""
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)


class SearchOptimizers:
    """SGD on the weights and Adam on the alphas of one stage's search network, with their steps."""

    def __init__(self, model: SearchNetwork, config: SearchConfig, loss: SearchLoss | None = None):
        self.model = model
        self.config = config
        self.loss = loss if loss is not None else SearchLoss()
        self.weights = model.weight_parameters()
        self.arch = model.arch_parameters()
        self.optimizer = torch.optim.SGD(self.weights, config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.arch_optimizer = torch.optim.Adam(self.arch, config.arch_lr, betas=tuple(config.arch_betas),
                                               weight_decay=config.arch_weight_decay)
        self.device = next(model.parameters()).device

    def set_lr(self, lr: float) -> None:
        """The weights' learning rate for the coming epoch (the alphas' is constant)."""
        set_lr(self.optimizer, lr)

    def alpha_step(self, x: torch.Tensor, y: torch.Tensor, share: float = 1.0) -> dict[str, torch.Tensor]:
        """One Adam step on the alphas; returns the objective's parts (detached).

        ``share`` is this process's slice of the global batch in a data-parallel job: gradients are
        summed across processes weighted by it (:func:`rapdarts.runtime.distributed.sum_gradients`). Cost
        terms are functions of the alphas alone, identical on every process, so their gradient
        comes out once, unweighted (the shares sum to 1).
        """
        with training_only(self.weights):
            self.arch_optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.config.amp):
                logits = self.model(x)
            loss, parts = self.loss(logits, y, self.model, with_terms=True)
            loss.backward()
            sum_gradients(self.arch, share)
            nn.utils.clip_grad_norm_(self.arch, self.config.grad_clip)
            self.arch_optimizer.step()
        return parts

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, share: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the weights; returns the (detached) loss and the number of correct predictions."""
        with training_only(self.arch):
            self.optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.config.amp):
                logits = self.model(x)
            loss, _ = self.loss(logits, y, self.model, with_terms=False)
            loss.backward()
            sum_gradients(self.weights, share)
            nn.utils.clip_grad_norm_(self.weights, self.config.grad_clip)
            self.optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).sum()
