"""The search objective, assembled in one place: ``L = CE + sum_m lambda_m * C_m``.

Every extra term (a resource cost, say) is a :class:`rapdarts.plugins.extensions.LossTerm`: a name, a
weight ``lambda`` and a differentiable scalar computed from the search network (typically from its
alphas only). Terms with weight zero are not evaluated at all, so a zero lambda reproduces the
plain search exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from rapdarts.plugins.extensions import LossTerm


@dataclass
class SearchLoss:
    """Cross-entropy plus weighted terms; returns the total and a per-part breakdown."""

    terms: Sequence[LossTerm] = field(default_factory=tuple)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, model: nn.Module,
                 with_terms: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``with_terms=False`` skips the terms: they depend on alphas, not weights, so a weight
        step needs only the cross-entropy."""
        ce = F.cross_entropy(logits.float(), targets)
        parts = {"ce": ce.detach()}
        total = ce
        if with_terms:
            for term in self.terms:
                if term.weight == 0.0:
                    continue
                value = term.value(model)
                parts[term.name] = value.detach()
                total = total + term.weight * value
        return total, parts
