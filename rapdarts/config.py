"""Search configuration: every number of a search in one typed, documented place.

The defaults of :class:`SearchConfig` are the published P-DARTS CIFAR-10 search settings (Chen,
Xie, Wu, Tian: "Progressive Differentiable Architecture Search", ICCV 2019, Sec. 4.1, and the
authors' ``train_search.py``; summarised in ``shared/reference/pdarts-facts.md``). Each field's
``help`` says what it is and its ``source`` where its default comes from. The CLI builds its
options from these fields, so nothing is documented twice.

A full paper-sized search takes about 0.3 GPU-days, and 200+ hours on 2 CPU cores, so scaled-down
*profiles* change a few sizes (width, batch, epochs) while keeping every step of the algorithm:
three stages, pruning, warm-up, dropout schedule, derivation rules. See :data:`PROFILES`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import RapdartsError
from .ops import check_op_names, primitives

PAPER = "P-DARTS (Chen et al. 2019) CIFAR-10 search"


def _field(default: Any, help: str, source: str = "", **kwargs: Any) -> Any:
    factory = kwargs.pop("default_factory", None)
    metadata = {"help": help, "source": source, **kwargs}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


DATASETS = ("digits", "cifar10", "cifar100", "imagefolder")


Settings = TypeVar("Settings", bound="SettingsRecord")


class SettingsRecord:
    """JSON round-trip and typed updates shared by the dataclass configs (search and training).

    Every value arriving from a file or the command line goes through :meth:`updated`, which
    coerces it to the field's type and names the source of a bad value in the error.
    """

    UNKNOWN_SETTING: ClassVar[str] = "unknown setting {key!r}; see 'rapdarts search --help'"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[Settings], data: dict[str, Any], source: str = "config") -> Settings:
        return cls().updated(data, source)

    def updated(self: Settings, changes: dict[str, Any], source: str = "config") -> Settings:
        """A copy with ``changes`` applied and coerced to each field's type."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        values = {}
        for key, value in changes.items():
            name = key.replace("-", "_")
            if name not in fields:
                raise RapdartsError(f"{source}: " + self.UNKNOWN_SETTING.format(key=key))
            values[name] = _coerce(fields[name], value, source)
        return dataclasses.replace(self, **values)


def check_dataset(dataset: str, data_dir: str | None) -> None:
    """One-line errors for an unknown dataset name or an image folder without its path."""
    if dataset not in DATASETS:
        raise RapdartsError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == "imagefolder" and not data_dir:
        raise RapdartsError("dataset imagefolder needs --data-dir pointing at the image folder")


@dataclass
class SearchConfig(SettingsRecord):
    """A complete, serialisable description of one progressive search."""

    # --- data
    dataset: str = _field("digits", "dataset: digits (embedded, no download), cifar10, cifar100 or imagefolder",
                          "rapdarts default: runs anywhere without a download")
    data_dir: str | None = _field(None, "dataset directory (CIFAR root or ImageFolder root); CIFAR downloads "
                                  "there when missing and online")
    image_size: int | None = _field(None, "resize ImageFolder images to this square size (default 32)")
    train_subset: int | None = _field(None, "use only this many training images, class-balanced")
    train_portion: float = _field(0.5, "share of training images for weight steps; the rest drive alpha steps",
                                  PAPER)
    # --- search space and stages
    primitives: tuple[str, ...] = _field(None, "candidate ops (comma-separated); default: every registered op",
                                         "DARTS search space", default_factory=primitives)
    init_channels: int = _field(16, "channels of the first cell", PAPER)
    cells: tuple[int, ...] = _field((5, 11, 17), "cells per stage", PAPER)
    ops_kept: tuple[int, ...] = _field((8, 5, 3), "candidate ops per edge in each stage", PAPER)
    skip_dropout: tuple[float, ...] = _field((0.1, 0.4, 0.7), "initial dropout rate after skip-connects per stage",
                                             "P-DARTS README command")
    dropout_decay: float = _field(0.2, "exponential decay of the skip dropout after warm-up", PAPER)
    max_skip_connects: int = _field(2, "most skip-connects allowed in the derived normal cell", PAPER + " (M = 2)")
    # --- optimisation
    epochs: int = _field(25, "epochs per stage", PAPER)
    warmup_epochs: int = _field(10, "epochs per stage in which only network weights train", PAPER)
    batch_size: int = _field(96, "batch size of weight and of alpha steps", PAPER)
    lr: float = _field(0.025, "SGD learning rate of network weights (cosine-annealed per stage)", PAPER)
    lr_min: float = _field(0.0, "final learning rate of the cosine schedule", PAPER)
    momentum: float = _field(0.9, "SGD momentum", PAPER)
    weight_decay: float = _field(3e-4, "SGD weight decay", PAPER)
    grad_clip: float = _field(5.0, "gradient-norm clip of weights and of alphas", PAPER)
    arch_lr: float = _field(6e-4, "Adam learning rate of the architecture parameters", PAPER)
    arch_betas: tuple[float, ...] = _field((0.5, 0.999), "Adam betas of the architecture parameters", PAPER)
    arch_weight_decay: float = _field(1e-3, "Adam weight decay of the architecture parameters", PAPER)
    # --- resource costs: L = CE + sum_m lambda_m * C_m
    costs: dict[str, float] = _field(None, "resource costs and their lambdas, NAME=LAMBDA (repeatable)",
                                     "RAPDARTS eq. 10", default_factory=dict)
    cost_target: str = _field("eval", "network costs are priced in: eval (the network the genotype is trained as) "
                              "or search (the search network of the stage)")
    target_channels: int = _field(36, "width C of the evaluation network costs are priced in",
                                  "DARTS/P-DARTS CIFAR evaluation network")
    target_cells: int = _field(20, "cells of the evaluation network costs are priced in",
                               "DARTS/P-DARTS CIFAR evaluation network")
    cost_batch: int = _field(1, "batch size of the op specs costs are computed for (latency: deployment batch)")
    cost_options: dict[str, str] = _field(None, "options for cost providers, KEY=VALUE (e.g. latency.table=FILE)",
                                          default_factory=dict)
    block_plugins: tuple[str, ...] = _field((), "plugins not to load, by entry-point name")
    # --- budgets: lambda adapted during the search so the derived architecture meets C_m <= B_m
    budgets: dict[str, str] = _field(None, "resource budgets the derived architecture must meet, NAME=VALUE[unit] "
                                     "(repeatable, e.g. params=3M, latency=4ms); each adapts its own lambda",
                                     "rapdarts (dual ascent as in LightNAS)", default_factory=dict)
    budget_step: float = _field(0.05, "dual-ascent step: after every alpha step mu = lambda * budget changes by "
                                "budget_step * (C / budget - 1), never below 0", "rapdarts")
    budget_init: float = _field(0.0, "initial mu = lambda * budget of every budget (0: start unconstrained)",
                                "rapdarts")
    budget_repair: bool = _field(True, "when the final genotype ends over a budget, change its least probable ops "
                                 "until it meets every budget (reported in budgets.json)", "rapdarts")
    budget_temperature: float = _field(0.1, "temperature of the derivation-aware expected cost a budget uses "
                                       "(towards 0 it equals the derived cost; larger is smoother)", "rapdarts")
    # --- execution
    seed: int = _field(0, "random seed; a search is reproducible from config and seed")
    device: str = _field("auto", "cpu, cuda, cuda:N or auto (cuda when available)")
    threads: int | None = _field(None, "CPU threads for torch (default: torch's choice)")
    amp: bool = _field(False, "mixed precision (bfloat16 autocast) on CUDA")
    channels_last: bool = _field(True, "channels_last memory format (faster depthwise convs here)")
    recompute: str = _field("auto", "recompute mixed-op activations in backward (on, off, auto): ~4x less memory "
                            "for ~25% more time on large inputs; auto turns it on when the first cell's "
                            "activations exceed 2**20 values per tensor (batch x C x H x W)")
    profile: str = _field("paper", "named settings this config started from (informational)")

    def validate(self) -> SearchConfig:
        """Raise a one-line :class:`RapdartsError` for any impossible setting; return self."""
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
            if keep < 1 or (stage > 1 and keep > self.ops_kept[stage - 2]):
                raise RapdartsError(f"ops_kept {self.ops_kept} must be positive and never grow from stage to stage")
        if min(self.cells) < 1:
            raise RapdartsError(f"cells {self.cells}: every stage needs at least one cell")
        if any(not 0.0 <= p < 1.0 for p in self.skip_dropout):
            raise RapdartsError(f"skip_dropout {self.skip_dropout}: rates must be in [0, 1)")
        if self.epochs < 1 or not 0 <= self.warmup_epochs <= self.epochs:
            raise RapdartsError(f"need epochs >= 1 and 0 <= warmup_epochs <= epochs (got {self.epochs}, "
                                f"{self.warmup_epochs})")
        if self.recompute not in ("auto", "on", "off"):
            raise RapdartsError(f"recompute {self.recompute!r}: choose auto, on or off")
        if self.batch_size < 2:
            raise RapdartsError("batch_size must be at least 2 (batch norm needs two samples)")
        if not 0.0 < self.train_portion < 1.0:
            raise RapdartsError(f"train_portion {self.train_portion} must be between 0 and 1")
        if self.init_channels < 2:
            raise RapdartsError("init_channels must be at least 2")
        if len(self.arch_betas) != 2:
            raise RapdartsError("arch_betas needs two numbers, e.g. 0.5,0.999")
        for name in ("lr", "arch_lr"):
            if getattr(self, name) <= 0:
                raise RapdartsError(f"{name} must be positive")
        if self.cost_target not in ("eval", "search"):
            raise RapdartsError(f"cost_target {self.cost_target!r}: choose eval or search")
        if self.target_channels < 2 or self.target_cells < 1 or self.cost_batch < 1:
            raise RapdartsError("target_channels, target_cells and cost_batch must be positive")
        if not self.budget_step > 0 or not self.budget_init >= 0 or not self.budget_temperature > 0:
            raise RapdartsError("budget_step and budget_temperature must be positive and budget_init >= 0")
        for name, weight in self.costs.items():
            if not weight >= 0.0 or weight == float("inf"):
                raise RapdartsError(f"cost {name!r}: lambda {weight} must be a finite number >= 0")
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


def named_settings(config_class: type[Settings], profiles: dict[str, dict[str, Any]], name: str,
                   kind: str) -> Settings:
    """``config_class`` with the sizes of profile ``name`` applied, recorded as their source."""
    if name not in profiles:
        raise RapdartsError(f"unknown {kind} {name!r}; choose one of {', '.join(profiles)} or auto")
    return config_class(profile=name).updated(profiles[name], f"profile {name}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON or TOML file (a run directory's ``config.json`` works as is)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise RapdartsError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as error:
        raise RapdartsError(f"config file {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                            f"{error}") from None
    if not isinstance(data, dict):
        raise RapdartsError(f"config file {path} must hold a table of settings")
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    """Convert ``value`` (from JSON, TOML or a command line string) to the type of field ``f``."""
    kind = str(f.type)
    try:
        if value is None:
            if "None" not in kind:
                raise ValueError("may not be empty")
            return None
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            item_type = {"int": int, "float": float}.get(kind[6:kind.index(",")] if "," in kind else "str", str)
            return tuple(item_type(item.strip() if isinstance(item, str) else item) for item in items)
        if kind.startswith("dict"):
            if not isinstance(value, dict):
                raise ValueError("expected NAME=VALUE pairs")
            convert = float if "float" in kind else str
            return {str(k): convert(v) for k, v in value.items()}
        if kind.startswith("bool"):
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError("expected true or false")
                return lowered in ("true", "1", "yes")
            return bool(value)
        if kind.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if kind.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as error:
        raise RapdartsError(f"{source}: setting {f.name!r} got {value!r}: {error}") from None
