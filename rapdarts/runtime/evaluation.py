"""Loss and accuracy of a classifier on held-out images: the one evaluation loop of search and training.

The search scores its supernet on the alpha half of the data, training scores the evaluation
network on the test split, ``rapdarts evaluate`` scores a checkpoint: all three run
:func:`evaluate_classifier`, so the numbers they report are computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rapdarts.data import ImageData, evaluation_batches
from rapdarts.runtime.device import autocast


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
def evaluate_classifier(model: nn.Module, data: ImageData, batch_size: int, device: torch.device,
                        channels_last: bool = False, amp: bool = False) -> Evaluation:
    """Every image of ``data`` once, without augmentation, in eval mode; the mode is restored after.

    ``model(x)`` returns logits, or a tuple whose first item is the logits (the evaluation network
    returns ``(logits, auxiliary logits)``).
    """
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for x, y in evaluation_batches(data, batch_size, device, channels_last).iterate():
        with autocast(device, amp):
            output = model(x)
        logits = output[0] if isinstance(output, tuple) else output
        total_loss += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    model.train(was_training)
    return Evaluation(total_loss.item() / len(data), correct.item() / len(data), len(data))
