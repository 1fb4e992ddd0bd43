"""One training step of the evaluation network, and its evaluation on held-out images.

The step is DARTS' (``train.py``): cross-entropy of the main classifier plus ``auxiliary_weight``
times that of the auxiliary head, SGD with momentum and weight decay on every parameter, and the
gradient norm clipped before the update. The training loop, the benchmark and ``rapdarts
evaluate`` all use these functions, so what is measured is what is trained.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from .data import ImageData, evaluation_batches
from .network import EvalNetwork


def autocast(device: torch.device, amp: bool) -> AbstractContextManager:
    """bfloat16 autocast when ``amp`` (CUDA only; bfloat16 needs no loss scaling), else nothing."""
    if amp:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


class TrainSteps:
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
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One update on a batch; returns (detached) main cross-entropy, full objective, correct count."""
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            logits, aux_logits = self.model(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
        objective = loss
        if aux_logits is not None:
            objective = loss + self.auxiliary_weight * nn.functional.cross_entropy(aux_logits.float(), y)
        objective.backward()
        nn.utils.clip_grad_norm_(self.parameters, self.grad_clip)
        self.optimizer.step()
        return loss.detach(), objective.detach(), (logits.argmax(1) == y).sum()


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy and top-1 accuracy of a network on ``images`` images."""

    loss: float
    accuracy: float
    images: int

    @property
    def error(self) -> float:
        """Top-1 error as a fraction (the literature quotes it in percent)."""
        return 1.0 - self.accuracy


@torch.no_grad()
def evaluate_network(model: EvalNetwork, data: ImageData, batch_size: int, device: torch.device,
                     channels_last: bool = False, amp: bool = False) -> Evaluation:
    """Every image of ``data`` once, without augmentation, in eval mode (no drop path, no aux head)."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for x, y in evaluation_batches(data, batch_size, device, channels_last).iterate():
        with autocast(device, amp):
            logits, _ = model(x)
        total_loss += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    model.train(was_training)
    return Evaluation(total_loss.item() / len(data), correct.item() / len(data), len(data))
