"""What every resumable run shares: its run directory, locked while it runs, an epoch-end checkpoint, and resume.

A search and a training run differ in what they compute, not in how they are run: both name a
run directory without creating it (so a bad setting leaves nothing behind), hold its lock and copy
the log into it while running, write an atomic checkpoint at every epoch end from rank 0 only,
and resume from the last checkpoint, or start again when they stopped before the first one.
:class:`ResumableRun` is that machinery; subclasses say what a checkpoint holds and how the run
is rebuilt from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rapdarts.runtime import distributed
from rapdarts.runtime.tracking import Tracker
from rapdarts.settings import SettingsRecord
from rapdarts.storage.rundir import RunDirectory

log = logging.getLogger("rapdarts")

StepCallback = Callable[[int, int, int], None]
"""``callback(stage, epoch, step)`` after every optimisation step (a training run has one stage, 0); tests use
it to simulate a crash at a chosen step."""

Run = TypeVar("Run", bound="ResumableRun")


def shared_run_directory(path: str | Path | None = None, root: str | Path = "runs",
                         prefix: str = "search") -> RunDirectory:
    """:meth:`RunDirectory.new` for every process of a data-parallel job: rank 0 names it and the others receive
    the name, read-only (only rank 0 writes)."""
    cluster = distributed.current()
    if not cluster.distributed:
        return RunDirectory.new(path, root, prefix)
    directory = RunDirectory.new(path, root, prefix) if cluster.main else None
    name = distributed.broadcast_object(str(directory.path) if directory is not None else None)
    return directory if directory is not None else RunDirectory(str(name), read_only=True)


class ResumableRun:
    """A run writing into ``run_dir`` that :meth:`run` takes to its end, resumable with :meth:`resumed`.

    Subclasses set ``LOG_NAME`` (the log file in the run directory) and ``CONFIG``, and implement
    :meth:`_run`, :meth:`state`, :meth:`restore`, :meth:`_write_history` and the hooks of :meth:`resumed`.
    """

    LOG_NAME: ClassVar[str] = "run.log"
    CONFIG: ClassVar[type[SettingsRecord]]
    """The settings record the run is made from (its ``config.json``)."""
    run_dir: RunDirectory
    cluster: distributed.Cluster
    resumed_from: str = ""
    """What :meth:`resumed` found, logged when the run starts (empty for a new run)."""
    tracker: Tracker = Tracker(None)
    """Where the run's epochs are also written for TensorBoard (silent unless the config asks for it)."""

    # ----------------------------------------------------------------- running
    def run(self) -> Any:
        """Run (or continue) to the end. The run directory is locked meanwhile: a second process cannot write into
        it. In a data-parallel job only rank 0 writes (and locks); the others compute alongside."""
        try:
            if not self.cluster.main:
                return self._run()
            with self.run_dir.claimed(), self.run_dir.log_to(self.LOG_NAME):
                if self.resumed_from:
                    log.info("%s", self.resumed_from)
                return self._run()
        finally:
            self.tracker.close()

    def _run(self) -> Any:
        raise NotImplementedError

    def _save(self, model: Any) -> None:
        """The epoch-end checkpoint and history files, from rank 0 (batch-norm statistics are rank 0's)."""
        if model is not None:
            distributed.broadcast_buffers(model)
        if not self.cluster.main:
            return
        self.run_dir.save_checkpoint(self.state())
        self._write_history()

    def state(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly: the checkpoint."""
        raise NotImplementedError

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`state`."""
        raise NotImplementedError

    def _write_history(self) -> None:
        """The files a reader follows the run by (``metrics.jsonl``...), rewritten at every checkpoint."""

    # ----------------------------------------------------------------- resuming
    @classmethod
    def resumed(cls: type[Run], run_dir: str | Path, make: Callable[[Any], Any], show_progress: bool = True,
                on_step: StepCallback | None = None) -> Run:
        """The run in ``run_dir`` restored from its last epoch-end checkpoint, ready to :meth:`run`.

        ``make(config)`` rebuilds what the run needs beyond its config (search extensions, report
        costs). A run stopped before its first checkpoint (its settings written, no checkpoint)
        starts again from the beginning.
        """
        directory = RunDirectory.existing(run_dir)
        state = cls._read_checkpoint(directory) if directory.has_checkpoint() or not cls._can_start_over(directory) \
            else None
        config = cls._config_of(directory, state)
        distributed.cluster(config.device)  # a resumed data-parallel job joins its process group here
        directory.read_only = not distributed.current().main
        runner = cls._rebuilt(config, directory, state, make(config), show_progress, on_step)
        if state is None:
            runner.resumed_from = (f"resuming {directory.path}: it stopped before its first checkpoint, so it starts "
                                   "again from the beginning")
            return runner
        runner.restore(state)
        runner.resumed_from = runner._resume_note()
        return runner

    @classmethod
    def _read_checkpoint(cls, directory: RunDirectory) -> dict[str, Any]:
        """The checkpoint, or the one-line error saying why there is none to resume from."""
        raise NotImplementedError

    @classmethod
    def _can_start_over(cls, directory: RunDirectory) -> bool:
        """Whether the directory holds a run that stopped before its first checkpoint."""
        raise NotImplementedError

    @classmethod
    def _config_of(cls, directory: RunDirectory, state: dict[str, Any] | None) -> SettingsRecord:
        """The run's config: from the checkpoint, or from ``config.json`` when starting over."""
        if state is not None:
            return cls.CONFIG.from_dict(state["config"], f"checkpoint config in {directory.path}")
        return cls.CONFIG.from_dict(directory.read_json("config.json"), str(directory.file("config.json")))

    @classmethod
    def _rebuilt(cls: type[Run], config: Any, directory: RunDirectory, state: dict[str, Any] | None, made: Any,
                 show_progress: bool, on_step: StepCallback | None) -> Run:
        raise NotImplementedError

    def _resume_note(self) -> str:
        """Where the restored run stands, for the log."""
        raise NotImplementedError
