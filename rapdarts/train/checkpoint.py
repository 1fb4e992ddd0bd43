"""Trained networks on disk: training checkpoints, what they were trained for, and loading them safely.

A training checkpoint holds the weights together with everything needed to rebuild the network
they belong to: the genotype, the training config (width, depth) and the data shape (classes,
input channels, image size). Loading weights into a network built for another genotype or
another number of classes is a one-line error naming both, never a page of ``state_dict`` keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import CELL_TYPES, Genotype
from rapdarts.space.network import EvalNetwork
from rapdarts.train.config import TrainConfig

CHECKPOINT_FORMAT = 1
CHECKPOINT_KIND = "train"
CHECKPOINT = "checkpoint.pt"


def build_network(genotype: Genotype, config: TrainConfig, shape: DataShape, auxiliary: bool | None = None
                  ) -> EvalNetwork:
    """The evaluation network of ``genotype`` at the config's width and depth (aux head as configured)."""
    return EvalNetwork(genotype, config.init_channels, shape.num_classes, config.cells,
                       config.auxiliary if auxiliary is None else auxiliary, shape.in_channels, shape.image_size)


def genotype_difference(theirs: Genotype, ours: Genotype) -> str:
    """The first difference between two genotypes, in words (``""`` when equal)."""
    for cell in CELL_TYPES:
        (edges_a, concat_a), (edges_b, concat_b) = theirs.cell(cell), ours.cell(cell)
        if len(edges_a) != len(edges_b):
            return f"its {cell} cell has {len(edges_a) // 2} nodes, not {len(edges_b) // 2}"
        for position, (a, b) in enumerate(zip(edges_a, edges_b)):
            if a != b:
                return f"its {cell} cell edge {position} is {a[0]}<-{a[1]}, not {b[0]}<-{b[1]}"
        if concat_a != concat_b:
            return f"its {cell}_concat is {list(concat_a)}, not {list(concat_b)}"
    return ""


@dataclass
class TrainedWeights:
    """The weights of a training checkpoint and what they were trained for."""

    path: Path
    genotype: Genotype
    config: TrainConfig
    shape: DataShape
    state: dict[str, torch.Tensor]
    epoch: int

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def describe(self) -> str:
        return f"{self.path}, after epoch {self.epoch}/{self.config.epochs}"

    def check_compatible(self, genotype: Genotype | None = None, num_classes: int | None = None,
                         in_channels: int | None = None, what: str = "the target") -> None:
        """A one-line error if these weights do not fit ``genotype`` / ``num_classes`` / ``in_channels`` of ``what``."""
        if genotype is not None:
            difference = genotype_difference(self.genotype, genotype)
            if difference:
                raise RapdartsError(f"checkpoint {self.path} was trained for another genotype than {what} "
                                    f"({difference}); use the genotype of the run it came from")
        if num_classes is not None and num_classes != self.shape.num_classes:
            raise RapdartsError(f"checkpoint {self.path} was trained for {self.shape.num_classes} classes, not the "
                                f"{num_classes} of {what}; use a dataset (or --classes) with "
                                f"{self.shape.num_classes} classes")
        if in_channels is not None and in_channels != self.shape.in_channels:
            raise RapdartsError(f"checkpoint {self.path} was trained on {self.shape.in_channels}-channel images, not "
                                f"the {in_channels}-channel images of {what}")

    def network(self, auxiliary: bool = False) -> EvalNetwork:
        """The trained network (on the CPU, in eval mode); without the auxiliary head by default."""
        model = build_network(self.genotype, self.config, self.shape, auxiliary and self.config.auxiliary)
        state = self.state if model.auxiliary_head is not None else {
            key: value for key, value in self.state.items() if not key.startswith("auxiliary_head.")}
        load_state(model, state, self.path)
        return model.eval()


def load_state(model: EvalNetwork, state: dict[str, torch.Tensor], source: Path | str) -> None:
    """``model.load_state_dict(state)`` with a one-line error when the two do not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))
        raise RapdartsError(f"weights in {source} do not fit the network ({first}); was the checkpoint written for "
                            "another genotype, width or number of classes?") from None


def checkpoint_path(source: str | Path) -> Path:
    """``RUN_DIR/checkpoint.pt`` for a run directory, else ``source`` itself."""
    path = Path(source)
    return path / CHECKPOINT if path.is_dir() else path


def read_checkpoint(source: str | Path) -> dict[str, Any]:
    """A training checkpoint (run directory or ``.pt`` file) with one-line errors for anything else."""
    path = checkpoint_path(source)
    if not path.exists():
        if Path(source).is_dir():
            raise RapdartsError(f"{source} has no {CHECKPOINT}; is it a 'rapdarts train' run directory?")
        raise RapdartsError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt files
        raise RapdartsError(f"checkpoint {path} is unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        if isinstance(state, dict) and "stage" in state:
            raise RapdartsError(f"checkpoint {path} is a search checkpoint, not a trained network; train its genotype "
                                f"with 'rapdarts train {path.parent}'")
        raise RapdartsError(f"{path} is not a 'rapdarts train' checkpoint")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RapdartsError(f"checkpoint {path} has format {state.get('format')}, expected {CHECKPOINT_FORMAT}; it "
                            "was written by another rapdarts version")
    return state


def load_trained(source: str | Path) -> TrainedWeights:
    """The weights of a training run directory or checkpoint file, with what they were trained for."""
    state = read_checkpoint(source)
    path = checkpoint_path(source)
    config = TrainConfig.from_dict(state["config"], f"config in {path}")
    genotype = Genotype.from_dict(state["genotype"], f"genotype in {path}")
    return TrainedWeights(path, genotype, config, DataShape.from_dict(state["shape"]), state["model"],
                          int(state["epoch"]))


def run_kind(path: str | Path) -> str:
    """``"train"`` or ``"search"`` for a rapdarts run directory (from its config), else a one-line error."""
    import json

    directory = Path(path)
    if not directory.is_dir():
        raise RapdartsError(f"run directory {directory} does not exist")
    config_file = directory / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise RapdartsError(f"{directory} has no config.json; is it a rapdarts run directory?") from None
    except ValueError as error:
        raise RapdartsError(f"{config_file} is not valid JSON: {error}") from None
    if isinstance(config, dict) and "auxiliary_weight" in config:
        return "train"
    if isinstance(config, dict) and "cells" in config and "ops_kept" in config:
        return "search"
    raise RapdartsError(f"{directory} is neither a 'rapdarts train' nor a 'rapdarts search' run directory")
