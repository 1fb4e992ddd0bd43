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
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from rapdarts.errors import RapdartsError
from rapdarts.storage.atomic import atomic_write, atomic_write_json, atomic_write_text
from rapdarts.storage.locking import exclusive
from rapdarts.storage.paths import check_output

log = logging.getLogger("rapdarts")
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
LOCK = ".lock"


class RunDirectory:
    """A folder holding one run's files; all writes go through a temporary file and a rename."""

    CHECKPOINT = "checkpoint.pt"

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self._fresh_name: tuple[Path, str, str] | None = None
        self.read_only = read_only
        """Set on the ranks of a data-parallel job other than 0: they read, and a write is a bug."""

    def _writing(self) -> None:
        if self.read_only:
            raise RuntimeError(f"only rank 0 writes into {self.path}")

    @classmethod
    def new(cls, path: str | Path | None = None, root: str | Path = "runs", prefix: str = "search") -> RunDirectory:
        """The directory of a new run; nothing is created until :meth:`create` (when the run starts).

        ``path`` must be new or empty. Without it, a fresh ``root/prefix-YYYYmmdd-HHMMSS[-N]`` is named.
        """
        kind = "sweep directory" if prefix == "sweep" else "run directory"
        if path is not None:
            check_output(path, f"the {kind}", directory=True)
            cls.refuse_used(path, kind)
            return cls(path)
        root = check_output(root, f"the root of new {kind.replace('directory', 'directories')}", directory=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        directory = cls(root / f"{prefix}-{stamp}")
        directory._fresh_name = (root, prefix, stamp)
        directory.path = directory._free_path(0)
        return directory

    def _free_path(self, first: int) -> Path:
        root, prefix, stamp = self._fresh_name  # type: ignore[misc]
        for attempt in range(first, first + 1000):
            path = root / (f"{prefix}-{stamp}" + (f"-{attempt}" if attempt else ""))
            if not path.exists():
                return path
        raise RapdartsError(f"cannot name a new run directory under {root}")

    @staticmethod
    def refuse_used(path: str | Path, kind: str = "run directory") -> None:
        """A one-line error if ``path`` already holds files (a finished or interrupted run, say)."""
        path = Path(path)
        if path.exists() and any(p.name != LOCK for p in path.iterdir()):
            raise RapdartsError(f"{kind} {path} already has files; choose a new one, or continue it with "
                                f"--resume {path}")

    def create(self) -> Path:
        """Create the directory (idempotent); a freshly named one that appeared meanwhile gets the next name."""
        self._writing()
        if self._fresh_name is None:
            self.path.mkdir(parents=True, exist_ok=True)
            return self.path
        while True:
            try:
                self.path.mkdir(parents=True)
                self._fresh_name = None
                return self.path
            except FileExistsError:
                self.path = self._free_path(1)

    @contextmanager
    def claimed(self, what: str = "run directory") -> Iterator[None]:
        """Create the directory and hold its lock while the block runs: no second process may write into it.

        Temporary files a killed run left behind (``.checkpoint.pt.*.tmp``, half-written plots) are removed.
        """
        self.create()
        with exclusive(self.file(LOCK), f"{what} {self.path}", remove=True):
            leftovers = [p for p in self.path.rglob(".*.tmp") if p.is_file()]
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
            if leftovers:
                log.debug("removed %d temporary files an interrupted run left in %s", len(leftovers), self.path)
            yield

    @classmethod
    def existing(cls, path: str | Path) -> RunDirectory:
        path = Path(path)
        if not path.is_dir():
            raise RapdartsError(f"run directory {path} does not exist")
        return cls(path)

    @contextmanager
    def log_to(self, name: str) -> Iterator[None]:
        """Copy the ``rapdarts`` log into ``name`` in this directory while the block runs."""
        self._writing()
        handler = logging.FileHandler(self.file(name))
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger = logging.getLogger("rapdarts")
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            handler.close()

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        self._writing()
        return atomic_write_json(self.file(name), data)

    def read_json(self, name: str) -> Any:
        path = self.file(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RapdartsError(f"{path} is missing; is {self.path} a rapdarts run directory?") from None
        except json.JSONDecodeError as error:
            raise RapdartsError(f"{path} is not valid JSON: {error}") from None

    def read_versioned(self, name: str, expected: int) -> dict[str, Any]:
        """:meth:`read_json` of a plan file that carries ``"format"``: another format (another rapdarts version
        wrote it) is a one-line error rather than a ``KeyError`` later."""
        data = self.read_json(name)
        if not isinstance(data, dict) or data.get("format") != expected:
            found = data.get("format") if isinstance(data, dict) else None
            raise RapdartsError(f"{self.file(name)} has format {found}, expected {expected}")
        return data

    def write_jsonl(self, name: str, rows: list[dict[str, Any]]) -> Path:
        self._writing()
        return atomic_write_text(self.file(name), "".join(json.dumps(row) + "\n" for row in rows))

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        path = self.file(name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def save_checkpoint(self, state: dict[str, Any]) -> Path:
        self._writing()
        return atomic_write(self.file(self.CHECKPOINT), lambda file: torch.save(state, file))

    def has_checkpoint(self) -> bool:
        return self.file(self.CHECKPOINT).exists()

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        path = self.file(self.CHECKPOINT)
        if not path.exists():
            raise RapdartsError(f"{self.path} has no {self.CHECKPOINT}; it cannot be resumed (was it created by "
                                "'rapdarts search'?)")
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt files
            raise RapdartsError(f"checkpoint {path} is unreadable ({type(error).__name__}: {error})") from None
