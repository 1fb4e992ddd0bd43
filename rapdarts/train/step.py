"""One training step of the evaluation network (DARTS ``train.py``).

Cross-entropy of the main classifier plus ``auxiliary_weight`` times that of the auxiliary head,
SGD with momentum and weight decay on every parameter, and the gradient norm clipped before the
update. The training loop and the throughput benchmark both use :class:`TrainingStep`, so what is
measured is what is trained; evaluation is :func:`rapdarts.runtime.evaluation.evaluate_classifier`.
"""

from __future__ import annotations

import torch
from torch import nn

from rapdarts.runtime.device import autocast
from rapdarts.runtime.distributed import sum_gradients
from rapdarts.runtime.schedules import set_lr
from rapdarts.space.network import EvalNetwork


class TrainingStep:
    """The SGD optimizer of one evaluation network and its training step."""

    def __init__(self, model: EvalNetwork, lr: float, momentum: float, weight_decay: float, grad_clip: float,
                 auxiliary_weight: float, amp: bool = False):
        self.model = model
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.parameters, lr, momentum=momentum, weight_decay=weight_decay)
        self.grad_clip = grad_clip
        self.auxiliary_weight = auxiliary_weight
        self.amp = amp
        self.device = next(model.parameters()).device

    def set_lr(self, lr: float) -> None:
        set_lr(self.optimizer, lr)

    def step(self, x: torch.Tensor, y: torch.Tensor, share: float = 1.0) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
        """One update on a batch; returns (detached) main cross-entropy, full objective, correct count.

        ``share``: this process's slice of the global batch in a data-parallel job (gradients are
        summed across processes weighted by it).
        """
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            logits, aux_logits = self.model(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
        objective = loss
        if aux_logits is not None:
            objective = loss + self.auxiliary_weight * nn.functional.cross_entropy(aux_logits.float(), y)
        objective.backward()
        sum_gradients(self.parameters, share)
        nn.utils.clip_grad_norm_(self.parameters, self.grad_clip)
        self.optimizer.step()
        return loss.detach(), objective.detach(), (logits.argmax(1) == y).sum()
