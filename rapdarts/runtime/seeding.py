"""Seeds derived from a run's seed, so that every epoch can be replayed on its own (resume)."""

from __future__ import annotations

import numpy as np


def epoch_seed(seed: int, stage: int, epoch: int) -> int:
    """A well-mixed seed for one epoch of one stage (``epoch=-1`` seeds the stage's initialisation).

    Search uses ``(seed, stage, epoch)``; training, which has no stages, uses stage 0.
    """
    return int(np.random.SeedSequence([seed, stage, epoch + 1]).generate_state(1)[0])
