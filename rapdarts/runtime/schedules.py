"""Learning-rate schedule shared by search and training: cosine annealing, set per epoch."""

from __future__ import annotations

import math

import torch


def cosine_lr(base: float, minimum: float, epoch: float, epochs: int) -> float:
    """Cosine annealing from ``base`` at epoch 0 towards ``minimum`` at ``epochs`` (DARTS, per epoch)."""
    return minimum + 0.5 * (base - minimum) * (1.0 + math.cos(math.pi * epoch / epochs))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group of ``optimizer`` the learning rate ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
