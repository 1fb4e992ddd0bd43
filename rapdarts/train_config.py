"""Training configuration: every number of training a genotype's evaluation network in one place.

The defaults of :class:`TrainConfig` are the published CIFAR-10 evaluation settings of DARTS (Liu,
Simonyan, Yang, ICLR 2019, Sec. 3.3 and its ``train.py``) and P-DARTS (Chen, Xie, Wu, Tian, ICCV
2019, Sec. 4.2 and its ``train_cifar.py``), summarised in ``shared/reference/pdarts-facts.md``.
Where the two differ, P-DARTS wins (batch 128; DARTS used 96) and the help text says so. Each
field's ``help`` says what it is and its ``source`` where its default comes from; the CLI builds
its options from these fields.

600 epochs of a 3.4M-parameter network take about 1.5 GPU-days, so scaled-down *profiles* change
sizes (width, depth, batch, epochs, data) and nothing else: the auxiliary head, drop path, cutout,
SGD with momentum, the cosine schedule and gradient clipping run in all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .config import SettingsRecord, _field, check_dataset, named_settings
from .errors import RapdartsError

DARTS = "DARTS/P-DARTS CIFAR-10 evaluation"
PDARTS = "P-DARTS train_cifar.py (DARTS train.py: 96)"


@dataclass
class TrainConfig(SettingsRecord):
    """A complete, serialisable description of training one genotype from scratch."""

    UNKNOWN_SETTING: ClassVar[str] = "unknown training setting {key!r}; see 'rapdarts train --help'"

    # --- data
    dataset: str = _field("digits", "dataset: digits (embedded, no download), cifar10, cifar100 or imagefolder",
                          "rapdarts default: runs anywhere without a download")
    data_dir: str | None = _field(None, "dataset directory (CIFAR root or ImageFolder root with train/ and test/)")
    image_size: int | None = _field(None, "resize ImageFolder images to this square size (default 32)")
    train_subset: int | None = _field(None, "use only this many training images, class-balanced",
                                      DARTS + ": all 50,000 training images")
    test_subset: int | None = _field(None, "evaluate on only this many test images, class-balanced",
                                     DARTS + ": the 10,000 test images")
    # --- network
    init_channels: int = _field(36, "channels of the first cell (C)", DARTS)
    layers: int = _field(20, "number of cells", DARTS)
    auxiliary: bool = _field(True, "train with the auxiliary classifier after the second reduction cell", DARTS)
    auxiliary_weight: float = _field(0.4, "weight of the auxiliary classifier's loss", DARTS)
    drop_path_prob: float = _field(0.3, "final drop-path probability; ramped linearly from 0 over the epochs "
                                   "(p * epoch / epochs), never applied to identity ops", DARTS)
    cutout_length: int = _field(16, "cutout square side in pixels at 32x32, scaled to other image sizes (8x8 "
                                "digits: 4); 0 turns cutout off", DARTS + " (DeVries & Taylor 2017)")
    # --- optimisation
    epochs: int = _field(600, "training epochs", DARTS)
    batch_size: int = _field(128, "batch size (training and evaluation)", PDARTS)
    lr: float = _field(0.025, "SGD learning rate (cosine-annealed per epoch)", DARTS)
    lr_min: float = _field(0.0, "final learning rate of the cosine schedule", DARTS)
    momentum: float = _field(0.9, "SGD momentum", DARTS)
    weight_decay: float = _field(3e-4, "SGD weight decay (every parameter, as in DARTS)", DARTS)
    grad_clip: float = _field(5.0, "gradient-norm clip", DARTS)
    # --- final report
    report_costs: tuple[str, ...] = _field((), "cost providers in the final report, comma-separated (default: "
                                           "every installed one; see 'rapdarts costs')")
    cost_options: dict[str, str] = _field(None, "options for cost providers, KEY=VALUE (e.g. latency.table=FILE)",
                                          default_factory=dict)
    block_plugins: tuple[str, ...] = _field((), "plugins not to load, by entry-point name")
    onnx_latency: bool = _field(True, "export the trained network to ONNX and measure its ONNX Runtime latency")
    latency_batch: int = _field(1, "batch size of the measured ONNX Runtime latency (deployment batch)",
                                "TF-NAS / HardCoRe-NAS CPU tables: batch 1")
    latency_threads: int = _field(1, "ONNX Runtime intra-op threads of the latency measurement",
                                  "TF-NAS CPU tables: one thread")
    # --- execution
    seed: int = _field(0, "random seed; training is reproducible from config, genotype and seed")
    device: str = _field("auto", "cpu, cuda, cuda:N or auto (cuda when available)")
    threads: int | None = _field(None, "CPU threads for torch (default: torch's choice)")
    amp: bool = _field(False, "mixed precision (bfloat16 autocast) on CUDA")
    channels_last: bool = _field(True, "channels_last memory format (faster depthwise convs on CPU and CUDA)")
    profile: str = _field("paper", "named settings this config started from (informational)")

    def validate(self) -> TrainConfig:
        """Raise a one-line :class:`RapdartsError` for any impossible setting; return self."""
        check_dataset(self.dataset, self.data_dir)
        if self.init_channels < 2 or self.layers < 3:
            raise RapdartsError(f"init_channels {self.init_channels} and layers {self.layers}: need C >= 2 and at "
                                "least 3 cells (two of them reduce)")
        if self.epochs < 1:
            raise RapdartsError(f"epochs {self.epochs} must be at least 1")
        if self.batch_size < 2:
            raise RapdartsError("batch_size must be at least 2 (batch norm needs two samples)")
        if not 0.0 <= self.drop_path_prob < 1.0:
            raise RapdartsError(f"drop_path_prob {self.drop_path_prob} must be in [0, 1)")
        if self.auxiliary_weight < 0 or self.cutout_length < 0 or self.grad_clip <= 0:
            raise RapdartsError("auxiliary_weight and cutout_length must be >= 0 and grad_clip > 0")
        if self.lr <= 0 or not 0 <= self.lr_min <= self.lr:
            raise RapdartsError(f"need lr > 0 and 0 <= lr_min <= lr (got {self.lr}, {self.lr_min})")
        if self.latency_batch < 1 or self.latency_threads < 1:
            raise RapdartsError("latency_batch and latency_threads must be positive")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise RapdartsError(f"{name} {value} is too small; use at least a few images per class")
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
    "cpu": {"init_channels": 16, "layers": 8, "batch_size": 64, "epochs": 30},
    # Seconds: for tests and smoke checks only.
    "tiny": {"init_channels": 4, "layers": 5, "batch_size": 32, "epochs": 3, "train_subset": 512},
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
