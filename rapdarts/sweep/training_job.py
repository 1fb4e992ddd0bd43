"""One training as a job of the sweep backends: a selected genotype, or one seed of a genotype.

:func:`run_training` is to a training what :func:`rapdarts.sweep.backends.run_sample` is to a
search: it trains (through :func:`rapdarts.api.train`, so each is a normal ``train`` run
directory), resumes an interrupted run from its last epoch, or skips a finished one, and returns
a small picklable summary: the run's ``report.json``. Backends run it in this process, in local
worker processes or as Ray tasks; with ``processes > 1`` it is a torchrun data-parallel job.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rapdarts.storage.rundir import RunDirectory
from rapdarts.sweep.backends import launch_with_torchrun


def training_task(config: dict[str, Any], genotype: dict[str, Any], source: str) -> dict[str, Any]:
    """What :func:`run_training` needs: the training config (``TrainConfig.to_dict()``), the genotype and a label."""
    return {"config": config, "genotype": genotype, "source": source}


def training_status(path: Path) -> str:
    """``done before`` (a report exists), ``resumed`` (settings or a checkpoint exist) or ``ran`` (nothing yet)."""
    if (path / "report.json").exists():
        return "done before"
    if (path / RunDirectory.CHECKPOINT).exists() or (path / "config.json").exists():
        return "resumed"
    return "ran"


def training_finished(path: Path) -> bool:
    return training_status(path) == "done before"


def run_training(run_dir: str, task: dict[str, Any], processes: int = 1) -> dict[str, Any]:
    """Train, resume or skip the training of ``task`` (see :func:`training_task`) in ``run_dir``."""
    path = Path(run_dir)
    status = training_status(path)
    if processes > 1:
        _train_with_torchrun(path, task, status, processes)
    elif status != "done before":
        from rapdarts.api import resume_training, train
        from rapdarts.space.genotype import Genotype
        from rapdarts.train.config import TrainConfig

        logger = logging.getLogger("rapdarts")
        if logger.level == logging.NOTSET:  # a worker process: the training's log goes to its train.log
            logger.setLevel(logging.INFO)
        if status == "resumed":
            resume_training(path, show_progress=False)
        else:
            config = TrainConfig.from_dict(task["config"], f"training of {task['source']}")
            genotype = Genotype.from_dict(task["genotype"], task["source"])
            train(config, genotype, run_dir=path, genotype_source=task["source"], show_progress=False)
    return {"run_dir": str(path), "status": status, "report": RunDirectory(path).read_json("report.json"),
            "pid": os.getpid(), "processes": processes}


def _train_with_torchrun(path: Path, task: dict[str, Any], status: str, processes: int) -> None:
    """The training as ``torchrun ... -m rapdarts train``, started, resumed or (when finished) not at all."""
    if status == "done before":
        return
    if status == "resumed":
        command = ["train", "--resume", str(path)]
    else:
        command = ["train", "{genotype.json}", "--config", "{config.json}", "--run-dir", str(path)]
    launch_with_torchrun(command, {"genotype.json": task["genotype"], "config.json": task["config"]}, processes,
                         f"the {processes}-process training in {path}")
