"""Search configuration: every number of a search in one typed, documented place.

The defaults of :class:`SearchConfig` are the published P-DARTS CIFAR-10 search settings (Chen,
Xie, Wu, Tian: "Progressive Differentiable Architecture Search", ICCV 2019, Sec. 4.1, and the
authors' ``train_search.py``). Each field's ``help`` says what it is and its ``source`` where its
default comes from. The CLI builds its options from these fields, so nothing is documented twice.

A full paper-sized search takes about 0.3 GPU-days, and 200+ hours on 2 CPU cores, so scaled-down
*profiles* change a few sizes (width, batch, epochs) while keeping every step of the algorithm:
three stages, pruning, warm-up, dropout schedule, derivation rules. See :data:`PROFILES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapdarts.errors import RapdartsError
from rapdarts.settings import (
    DATASETS,
    DEVICES,
    GIGABYTES,
    SettingsRecord,
    above,
    at_least,
    between,
    check_dataset,
    named_settings,
    one_of,
    setting,
)
from rapdarts.space.layout import NETWORKS
from rapdarts.space.network import EVAL_CELLS, EVAL_CHANNELS
from rapdarts.space.ops import check_op_names, primitives

PAPER = "P-DARTS (Chen et al. 2019) CIFAR-10 search"
RECOMPUTE = ("auto", "on", "off")


@dataclass
class SearchConfig(SettingsRecord):
    """A complete, serialisable description of one progressive search."""

    # --- data
    dataset: str = setting("digits", "dataset: digits (embedded, no download), cifar10, cifar100 or imagefolder",
                           "rapdarts default: runs anywhere without a download", domain=one_of(DATASETS))
    data_dir: str | None = setting(None, "dataset directory (CIFAR root or ImageFolder root); CIFAR downloads "
                                   "there when missing and online")
    image_size: int | None = setting(None, "resize ImageFolder images to this square size (default 32)",
                                     domain=at_least(1))
    train_subset: int | None = setting(None, "use only this many training images, class-balanced", domain=at_least(2))
    train_portion: float = setting(0.5, "share of training images for weight steps; the rest drive alpha steps", PAPER,
                                   domain=between(0, 1, low_open=True))
    # --- search space and stages
    primitives: tuple[str, ...] = setting(None, "candidate ops (comma-separated); default: every registered op",
                                          "DARTS search space", default_factory=primitives)
    init_channels: int = setting(16, "channels of the first cell", PAPER, domain=at_least(2))
    cells: tuple[int, ...] = setting((5, 11, 17), "cells per stage", PAPER, domain=at_least(1))
    ops_kept: tuple[int, ...] = setting((8, 5, 3), "candidate ops per edge in each stage", PAPER, domain=at_least(1))
    skip_dropout: tuple[float, ...] = setting((0.1, 0.4, 0.7), "initial dropout rate after skip-connects per stage",
                                              "P-DARTS README command", domain=between(0, 1))
    dropout_decay: float = setting(0.2, "exponential decay of the skip dropout after warm-up", PAPER,
                                   domain=at_least(0))
    max_skip_connects: int = setting(2, "most skip-connects allowed in the derived normal cell", PAPER + " (M = 2)",
                                     domain=at_least(0))
    # --- optimisation
    epochs: int = setting(25, "epochs per stage", PAPER, domain=at_least(1))
    warmup_epochs: int = setting(10, "epochs per stage in which only network weights train", PAPER, domain=at_least(0))
    batch_size: int = setting(96, "batch size of weight and of alpha steps", PAPER, domain=at_least(2))
    lr: float = setting(0.025, "SGD learning rate of network weights (cosine-annealed per stage)", PAPER,
                        domain=above(0))
    lr_min: float = setting(0.0, "final learning rate of the cosine schedule", PAPER, domain=at_least(0))
    momentum: float = setting(0.9, "SGD momentum", PAPER, domain=between(0, 1))
    weight_decay: float = setting(3e-4, "SGD weight decay", PAPER, domain=at_least(0))
    grad_clip: float = setting(5.0, "gradient-norm clip of weights and of alphas", PAPER, domain=above(0))
    arch_lr: float = setting(6e-4, "Adam learning rate of the architecture parameters", PAPER, domain=above(0))
    arch_betas: tuple[float, ...] = setting((0.5, 0.999), "Adam betas of the architecture parameters", PAPER,
                                            domain=between(0, 1))
    arch_weight_decay: float = setting(1e-3, "Adam weight decay of the architecture parameters", PAPER,
                                       domain=at_least(0))
    # --- resource costs: L = CE + sum_m lambda_m * C_m
    costs: dict[str, float] = setting(None, "resource costs and their lambdas, NAME=LAMBDA (repeatable)",
                                      "RAPDARTS eq. 10", default_factory=dict, domain=at_least(0))
    cost_target: str = setting("eval", "network costs are priced in: eval (the network the genotype is trained as) "
                               "or search (the search network of the stage)", domain=one_of(NETWORKS))
    target_channels: int = setting(EVAL_CHANNELS, "width C of the evaluation network costs are priced in",
                                   "DARTS/P-DARTS CIFAR evaluation network", domain=at_least(2))
    target_cells: int = setting(EVAL_CELLS, "cells of the evaluation network costs are priced in",
                                "DARTS/P-DARTS CIFAR evaluation network", domain=at_least(3))
    cost_batch: int = setting(1, "batch size of the op specs costs are computed for (latency: deployment batch)",
                              domain=at_least(1))
    cost_options: dict[str, str] = setting(None, "options for cost providers, KEY=VALUE (e.g. latency.table=FILE)",
                                           default_factory=dict)
    block_plugins: tuple[str, ...] = setting((), "plugins not to load, by entry-point name")
    # --- budgets: lambda adapted during the search so the derived architecture meets C_m <= B_m
    budgets: dict[str, str] = setting(None, "resource budgets the derived architecture must meet, NAME=VALUE[unit] "
                                      "(repeatable, e.g. params=3M, latency=4ms); each adapts its own lambda",
                                      "rapdarts (dual ascent as in LightNAS)", default_factory=dict)
    budget_step: float = setting(0.05, "dual-ascent step: after every alpha step mu = lambda * budget changes by "
                                 "budget_step * (C / budget - 1), never below 0", "rapdarts", domain=above(0))
    budget_init: float = setting(0.0, "initial mu = lambda * budget of every budget (0: start unconstrained)",
                                 "rapdarts", domain=at_least(0))
    budget_band: float = setting(0.03, "the final genotype's cost should land in [(1 - band) x budget, budget]: a "
                                 "repair moves one that ends over, or further under, into it (budgets judged on a "
                                 "measurement use --budget-measured-band)", "rapdarts",
                                 domain=between(0, 1, low_open=True))
    budget_measured_band: float = setting(0.10, "band of budgets judged on a measurement (latency timed here): the "
                                          "measured cost should land in [(1 - band) x budget, budget], with the "
                                          "margin the measured noise floor asks for inside both edges",
                                          "rapdarts (a re-timing moves by a few percent on shared machines)",
                                          domain=between(0, 1, low_open=True))
    budget_confidence: float = setting(0.95, "confidence that an independent re-timing of the final network "
                                       "measures under the budget (and above its band's lower edge): sets the "
                                       "margin from the noise floor measured in the run", "rapdarts",
                                       domain=between(0.5, 1, low_open=True))
    budget_measure_attempts: int = setting(6, "most repaired architectures measured before a measured budget ends "
                                           "with the best one confirmed so far", "rapdarts", domain=at_least(1))
    budget_repair: bool = setting(True, "when the final genotype ends outside its band (over a budget, or further "
                                  "under it than budget_band), replace it by the most probable architecture in the "
                                  "band (reported in budgets.json)", "rapdarts")
    budget_measure: bool = setting(True, "time the final genotype with ONNX Runtime when the latency table was made "
                                   "on this machine, and judge the latency budget on that measurement", "rapdarts")
    budget_temperature: float = setting(0.1, "temperature of the derivation-aware expected cost a budget uses "
                                        "(towards 0 it equals the derived cost; larger is smoother)", "rapdarts",
                                        domain=above(0))
    # --- execution
    seed: int = setting(0, "random seed; a search is reproducible from config and seed", domain=at_least(0))
    device: str = setting("auto", "cpu, cuda, cuda:N or auto (cuda when available)", domain=DEVICES)
    threads: int | None = setting(None, "CPU threads for torch (default: torch's choice, recorded in config.json: "
                                  "float sums, and so results, depend on it)", domain=at_least(1))
    amp: bool = setting(False, "mixed precision (bfloat16 autocast) on CUDA")
    deterministic: bool = setting(False, "deterministic torch algorithms: CUDA runs repeat bit for bit too (CPU runs "
                                  "already do, for the same seed, thread count and torch version)")
    channels_last: bool = setting(True, "channels_last memory format (faster depthwise convs here)")
    recompute: str = setting("auto", "recompute mixed-op activations in backward (on, off, auto): much less memory "
                             "for some more time on large inputs (benchmarks/search_step.py); auto turns it on when "
                             "the first cell's activations exceed 2**20 values per tensor (batch x C x H x W)",
                             domain=one_of(RECOMPUTE))
    memory_budget: float | None = setting(None, "GB the mixed ops may keep for backward; cells are recomputed in "
                                          "backward, largest first, until the rest fits (overrides the auto "
                                          "rule of --recompute; peak memory is about this plus the network, data "
                                          "and libraries); 4, 4GB or 512MB", domain=above(0), units=GIGABYTES)
    fast_dilated: bool = setting(False, "compute stride-2 dilated convs (reduction cells) as plain convs of the even "
                                 "pixels: same values, faster on CPU (benchmarks/search_step.py), but gradients "
                                 "differ in the last bits, so a search is not bit-identical to one without it and may "
                                 "end in another genotype")
    tensorboard: bool = setting(False, "also write losses, accuracies, each expected cost, each budget's lambda and mu "
                                "and alpha histograms per epoch to RUN_DIR/tensorboard (pip install "
                                "'rapdarts[tensorboard]')")
    profile: str = setting("paper", "named settings this config started from (informational)")

    def validate(self) -> SearchConfig:
        """Raise a one-line :class:`RapdartsError` for any impossible setting; return self.

        Each setting's own range is its declared domain (:meth:`check_domains`); what is checked here
        are the rules that relate settings to each other.
        """
        self.check_domains()
        check_dataset(self.dataset, self.data_dir)
        check_op_names(self.primitives, "--primitives")
        if len(set(self.primitives)) != len(self.primitives):
            raise RapdartsError(f"--primitives lists an op twice: {', '.join(self.primitives)}")
        stages = len(self.cells)
        if stages == 0 or len(self.ops_kept) != stages or len(self.skip_dropout) != stages:
            raise RapdartsError(
                f"cells {self.cells}, ops_kept {self.ops_kept} and skip_dropout {self.skip_dropout} must have one "
                "entry per stage"
            )
        available = len(self.primitives)
        for stage, keep in enumerate(self.ops_kept, 1):
            if keep > available:
                raise RapdartsError(
                    f"ops_kept {self.ops_kept}: stage {stage} keeps {keep} ops per edge but only {available} candidate "
                    "ops exist; lower ops_kept or add --primitives"
                )
            if stage > 1 and keep > self.ops_kept[stage - 2]:
                raise RapdartsError(f"ops_kept {self.ops_kept} must never grow from stage to stage")
        if self.warmup_epochs > self.epochs:
            raise RapdartsError(f"need warmup_epochs <= epochs (got {self.warmup_epochs} > {self.epochs})")
        if self.memory_budget is not None and self.recompute != "auto":
            raise RapdartsError(f"--memory-budget decides which cells recompute, but --recompute is "
                                f"{self.recompute!r}: drop one of the two (or set --recompute auto)")
        if len(self.arch_betas) != 2:
            raise RapdartsError("arch_betas needs two numbers, e.g. 0.5,0.999")
        return self


PROFILES: dict[str, dict[str, Any]] = {
    "paper": {},
    # A real three-stage search of the default dataset in a few minutes on 2 CPU cores.
    "cpu": {"init_channels": 8, "batch_size": 64, "epochs": 6, "warmup_epochs": 2},
    # Seconds: for tests and smoke checks only; too short to find good architectures.
    "tiny": {"init_channels": 4, "batch_size": 32, "epochs": 3, "warmup_epochs": 1, "cells": (3, 4, 5),
             "train_subset": 512},
}
"""Named settings. ``paper`` is the published configuration; the others change only sizes."""

PROFILE_HELP = {
    "paper": "the published P-DARTS settings (for GPUs: ~0.3 GPU-days on CIFAR-10)",
    "cpu": "C=8, batch 64, 6 epochs per stage (2 warm-up): minutes on the digits dataset with 2 CPU cores",
    "tiny": "C=4, cells 3/4/5, 3 epochs per stage, 512 images: seconds; for tests and smoke checks",
}


def profile_config(name: str) -> SearchConfig:
    """The config of a named profile (``auto`` is resolved by the caller)."""
    return named_settings(SearchConfig, PROFILES, name, "profile")
