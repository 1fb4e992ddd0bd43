"""Training configuration: every number of training a genotype's evaluation network in one place.

The defaults of :class:`TrainConfig` are the published CIFAR-10 evaluation settings of DARTS (Liu,
Simonyan, Yang, ICLR 2019, Sec. 3.3 and its ``train.py``) and P-DARTS (Chen, Xie, Wu, Tian, ICCV
2019, Sec. 4.2 and its ``train_cifar.py``). Where the two differ, P-DARTS wins (batch 128; DARTS
used 96) and the help text says so. Each field's ``help`` says what it is and its ``source`` where
its default comes from; the CLI builds its options from these fields.

600 epochs of a 3.4M-parameter network take about 1.5 GPU-days, so scaled-down *profiles* change
sizes (width, depth, batch, epochs, data) and nothing else: the auxiliary head, drop path, cutout,
SGD with momentum, the cosine schedule and gradient clipping run in all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rapdarts.errors import RapdartsError
from rapdarts.settings import (
    DATASETS,
    DEVICES,
    SettingsRecord,
    above,
    at_least,
    between,
    check_dataset,
    named_settings,
    one_of,
    setting,
)
from rapdarts.space.network import EVAL_CELLS, EVAL_CHANNELS

DARTS = "DARTS/P-DARTS CIFAR-10 evaluation"
PDARTS = "P-DARTS train_cifar.py (DARTS train.py: 96)"


@dataclass
class TrainConfig(SettingsRecord):
    """A complete, serialisable description of training one genotype from scratch."""

    UNKNOWN_SETTING: ClassVar[str] = "unknown training setting {key!r}; see 'rapdarts train --help'"
    ALIASES: ClassVar[dict[str, str]] = {"layers": "cells"}

    # --- data
    dataset: str = setting("digits", "dataset: digits (embedded, no download), cifar10, cifar100 or imagefolder",
                           "rapdarts default: runs anywhere without a download", domain=one_of(DATASETS))
    data_dir: str | None = setting(None, "dataset directory (CIFAR root or ImageFolder root with train/ and test/)")
    image_size: int | None = setting(None, "resize ImageFolder images to this square size (default 32)",
                                     domain=at_least(1))
    train_subset: int | None = setting(None, "use only this many training images, class-balanced",
                                       DARTS + ": all 50,000 training images", domain=at_least(2))
    test_subset: int | None = setting(None, "evaluate on only this many test images, class-balanced",
                                      DARTS + ": the 10,000 test images", domain=at_least(2))
    # --- network
    init_channels: int = setting(EVAL_CHANNELS, "channels of the first cell (C)", DARTS, domain=at_least(2))
    cells: int = setting(EVAL_CELLS, "number of cells", DARTS, domain=at_least(3))
    auxiliary: bool = setting(True, "train with the auxiliary classifier after the second reduction cell", DARTS)
    auxiliary_weight: float = setting(0.4, "weight of the auxiliary classifier's loss", DARTS, domain=at_least(0))
    drop_path_prob: float = setting(0.3, "final drop-path probability; ramped linearly from 0 over the epochs "
                                    "(p * epoch / epochs), never applied to identity ops", DARTS, domain=between(0, 1))
    cutout_length: int = setting(16, "cutout square side in pixels at 32x32, scaled to other image sizes (8x8 "
                                 "digits: 4); 0 turns cutout off", DARTS + " (DeVries & Taylor 2017)",
                                 domain=at_least(0))
    # --- optimisation
    epochs: int = setting(600, "training epochs", DARTS, domain=at_least(1))
    batch_size: int = setting(128, "batch size (training and evaluation)", PDARTS, domain=at_least(2))
    lr: float = setting(0.025, "SGD learning rate (cosine-annealed per epoch)", DARTS, domain=above(0))
    lr_min: float = setting(0.0, "final learning rate of the cosine schedule", DARTS, domain=at_least(0))
    momentum: float = setting(0.9, "SGD momentum", DARTS, domain=between(0, 1))
    weight_decay: float = setting(3e-4, "SGD weight decay (every parameter, as in DARTS)", DARTS, domain=at_least(0))
    grad_clip: float = setting(5.0, "gradient-norm clip", DARTS, domain=above(0))
    # --- final report
    report_costs: tuple[str, ...] = setting((), "cost providers in the final report, comma-separated (default: "
                                            "every installed one; see 'rapdarts costs')")
    cost_options: dict[str, str] = setting(None, "options for cost providers, KEY=VALUE (e.g. latency.table=FILE)",
                                           default_factory=dict)
    block_plugins: tuple[str, ...] = setting((), "plugins not to load, by entry-point name")
    onnx_latency: bool = setting(True, "export the trained network to ONNX and measure its ONNX Runtime latency")
    latency_batch: int = setting(1, "batch size of the measured ONNX Runtime latency (deployment batch)",
                                 "TF-NAS / HardCoRe-NAS CPU tables: batch 1", domain=at_least(1))
    latency_threads: int = setting(1, "ONNX Runtime intra-op threads of the latency measurement",
                                   "TF-NAS CPU tables: one thread", domain=at_least(1))
    # --- execution
    seed: int = setting(0, "random seed; training is reproducible from config, genotype and seed", domain=at_least(0))
    device: str = setting("auto", "cpu, cuda, cuda:N or auto (cuda when available)", domain=DEVICES)
    threads: int | None = setting(None, "CPU threads for torch (default: torch's choice, recorded in config.json: "
                                  "float sums, and so results, depend on it)", domain=at_least(1))
    amp: bool = setting(False, "mixed precision (bfloat16 autocast) on CUDA")
    deterministic: bool = setting(False, "deterministic torch algorithms: CUDA runs repeat bit for bit too (CPU runs "
                                  "already do, for the same seed, thread count and torch version)")
    channels_last: bool = setting(True, "channels_last memory format (faster depthwise convs on CPU and CUDA)")
    sync_bn: bool = setting(False, "in a data-parallel job (torchrun) on GPUs: batch-norm statistics over the "
                            "global batch (SyncBatchNorm) instead of each process's slice")
    tensorboard: bool = setting(False, "also write losses, accuracies and the learning rate per epoch to "
                                "RUN_DIR/tensorboard (pip install 'rapdarts[tensorboard]')")
    profile: str = setting("paper", "named settings this config started from (informational)")

    def validate(self) -> TrainConfig:
        """Raise a one-line :class:`RapdartsError` for any impossible setting; return self.

        Each setting's own range is its declared domain (:meth:`check_domains`); what is checked here
        are the rules that relate settings to each other.
        """
        self.check_domains()
        check_dataset(self.dataset, self.data_dir)
        if self.lr_min > self.lr:
            raise RapdartsError(f"need lr_min <= lr (got {self.lr_min} > {self.lr})")
        return self

    def cutout_pixels(self, image_size: tuple[int, int]) -> int:
        """The cutout side for images of ``image_size``: ``cutout_length`` scaled from 32 pixels.

        DARTS cuts out 16x16 of a 32x32 CIFAR image (half the side); on the 8x8 digits an
        unscaled 16-pixel square would blank every image, so the same fraction is used.
        """
        if self.cutout_length == 0:
            return 0
        return max(1, round(self.cutout_length * min(image_size) / 32))


TRAIN_PROFILES: dict[str, dict[str, Any]] = {
    "paper": {},
    # A real training run of the default dataset in a few minutes on 2 CPU cores.
    "cpu": {"init_channels": 16, "cells": 8, "batch_size": 64, "epochs": 30},
    # Seconds: for tests and smoke checks only.
    "tiny": {"init_channels": 4, "cells": 5, "batch_size": 32, "epochs": 3, "train_subset": 512},
}
"""Named settings. ``paper`` is the published configuration; the others change only sizes."""

TRAIN_PROFILE_HELP = {
    "paper": "the published DARTS/P-DARTS CIFAR-10 evaluation settings (C=36, 20 cells, 600 epochs; for GPUs)",
    "cpu": "C=16, 8 cells, batch 64, 30 epochs: minutes on the digits dataset with 2 CPU cores",
    "tiny": "C=4, 5 cells, batch 32, 3 epochs, 512 images: seconds; for tests and smoke checks",
}


def train_profile_config(name: str) -> TrainConfig:
    """The training config of a named profile (``auto`` is resolved by the caller)."""
    return named_settings(TrainConfig, TRAIN_PROFILES, name, "training profile")
