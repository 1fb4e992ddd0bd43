"""Experiment tracking: an optional TensorBoard writer for runs that are watched rather than read.

Searches, trainings and sweeps take hours; ``metrics.jsonl`` is the record, TensorBoard is the
window onto it while it runs. A :class:`Tracker` writes into ``RUN_DIR/tensorboard`` through
``torch.utils.tensorboard`` (``pip install 'rapdarts[tensorboard]'``). It is built when the run is
built, so a missing TensorBoard is a one-line error before anything is written, and it opens its
writer on the first value, so a run that fails before its first epoch leaves no event file.

Rows are logged whole: :func:`scalar_items` turns a metrics row (nested dicts of numbers, such
as ``expected_cost/params`` or ``budgets/params/lambda``) into tags, so a new metric of a search
extension shows up in TensorBoard without anyone listing it here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rapdarts.errors import RapdartsError

INSTALL_HINT = "pip install 'rapdarts[tensorboard]'"


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``, or a one-line error saying how to install TensorBoard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RapdartsError(f"--tensorboard needs TensorBoard, which is not installed: {INSTALL_HINT}") from None
    return SummaryWriter


def scalar_items(row: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(tag, value)`` for every finite number of ``row``, nested dicts joined with ``/``; booleans count as 0/1,
    lists and strings are left out (per-step trajectories and genotypes are no scalars)."""
    for key, value in row.items():
        tag = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from scalar_items(value, tag + "/")
        elif isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
            yield tag, float(value)


class Tracker:
    """Scalars and histograms of one run into ``directory`` (``None``: a tracker that writes nothing)."""

    def __init__(self, directory: str | Path | None):
        self.directory = None if directory is None else Path(directory)
        self._writer_class = summary_writer_class() if self.directory is not None else None
        self._writer: Any = None

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _write(self) -> Any:
        if self._writer is None:
            self._writer = self._writer_class(log_dir=str(self.directory), flush_secs=10)
        return self._writer

    def row(self, row: Mapping[str, Any], step: int, prefix: str = "") -> None:
        """Every number of a metrics row at ``step`` (see :func:`scalar_items`)."""
        if not self.enabled:
            return
        writer = self._write()
        for tag, value in scalar_items(row, prefix):
            writer.add_scalar(tag, value, step)

    def histogram(self, tag: str, values: Any, step: int) -> None:
        """A histogram of ``values`` (a tensor or an array) at ``step``."""
        if self.enabled:
            self._write().add_histogram(tag, values, step)

    def close(self) -> None:
        """Flush and close the writer (a tracker that wrote nothing has nothing to close)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def tracker_for(enabled: bool, run_dir: Path, main_process: bool = True) -> Tracker:
    """The tracker of a run: writing into ``run_dir/tensorboard`` when ``enabled`` on the main process, else silent.

    Every process checks that TensorBoard is installed, so a data-parallel job fails on all ranks alike."""
    if enabled:
        summary_writer_class()
    return Tracker(run_dir / "tensorboard" if enabled and main_process else None)
