"""The run directory: everything needed to understand and reproduce one run, written atomically.

Layout of a search run::

    config.json        resolved settings (rapdarts search --config config.json reruns it)
    environment.json   versions, machine, device, command line
    metrics.jsonl      one line per epoch
    alphas.jsonl       architecture parameters and candidates per epoch
    stages.json        per stage: candidates, final probabilities, pruned ops, derived genotype
    genotype.json      the final architecture
    checkpoint.pt      latest epoch-end state (for --resume)
    search.log         the log
    plots/             alpha heatmaps per stage, alphas over time, metrics, the two cells
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write, atomic_write_json, atomic_write_text
from .errors import RapdartsError


class RunDirectory:
    """A folder holding one run's files; all writes go through a temporary file and a rename."""

    CHECKPOINT = "checkpoint.pt"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path = "runs", prefix: str = "search") -> RunDirectory:
        """A new, empty directory ``root/prefix-YYYYmmdd-HHMMSS[-N]``."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        root = Path(root)
        for attempt in range(1000):
            path = root / (f"{prefix}-{stamp}" + (f"-{attempt}" if attempt else ""))
            try:
                path.mkdir(parents=True)
                return cls(path)
            except FileExistsError:
                continue
        raise RapdartsError(f"cannot create a run directory under {root}")

    @classmethod
    def existing(cls, path: str | Path) -> RunDirectory:
        path = Path(path)
        if not path.is_dir():
            raise RapdartsError(f"run directory {path} does not exist")
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        return atomic_write_json(self.file(name), data)

    def read_json(self, name: str) -> Any:
        path = self.file(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RapdartsError(f"{path} is missing; is {self.path} a rapdarts run directory?") from None
        except json.JSONDecodeError as error:
            raise RapdartsError(f"{path} is not valid JSON: {error}") from None

    def write_jsonl(self, name: str, rows: list[dict[str, Any]]) -> Path:
        return atomic_write_text(self.file(name), "".join(json.dumps(row) + "\n" for row in rows))

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        path = self.file(name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def save_checkpoint(self, state: dict[str, Any]) -> Path:
        return atomic_write(self.file(self.CHECKPOINT), lambda file: torch.save(state, file))

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        path = self.file(self.CHECKPOINT)
        if not path.exists():
            raise RapdartsError(f"{self.path} has no {self.CHECKPOINT}; it cannot be resumed (was it created by "
                                "'rapdarts search'?)")
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt files
            raise RapdartsError(f"checkpoint {path} is unreadable ({type(error).__name__}: {error})") from None
