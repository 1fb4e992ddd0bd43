"""A sweep's selection, trained: the chosen genotypes trained in parallel and resumably, then the table and Fig. 7.

A selection lives inside its sweep directory::

    SWEEP_DIR/selection/       (or --name)
        plan.json              budgets, ranking, top K, the training config, the candidates in rank order
        runs/01/ ...           one normal 'rapdarts train' run directory per distinct genotype, by rank
        selection.json         per candidate: who found it, predicted costs, trained error, parameters, latency
        selection.csv
        plots/error_vs_cost.png   trained test error against parameters and latency (RAPDARTS Fig. 7)

Everything that decides what is trained is fixed in ``plan.json`` before the first training starts,
so a resumed selection trains the same genotypes with the same settings even if the sweep grew
meanwhile; finished trainings (a ``report.json``) are not redone, interrupted ones resume from
their last epoch. The trainings run on the sweep's backends (:func:`rapdarts.sweep.backends.run_jobs`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from rapdarts.api import prepare_training
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import Genotype
from rapdarts.storage.rundir import RunDirectory
from rapdarts.sweep.backends import SweepOptions, run_unfinished
from rapdarts.sweep.runner import Sweep, load_sweep
from rapdarts.sweep.selection import resolve_budgets, select_genotypes
from rapdarts.sweep.selection_report import SelectionReport
from rapdarts.sweep.training_job import run_training, training_finished, training_task
from rapdarts.train.config import TrainConfig

log = logging.getLogger("rapdarts")

SELECTION_FORMAT = 1
MATCHED = ("dataset", "data_dir", "image_size", "init_channels", "cells")
"""Training settings taken from the sweep unless given: its data, and the network its costs were priced on."""


def matched_training(config: TrainConfig, sweep_config: Mapping[str, Any], keep: Collection[str] = ()) -> TrainConfig:
    """``config`` training the sweep's network: the sweep's dataset, and the width and depth its costs (and so its
    budgets) were priced at, so each trained model's parameters can be checked against the prediction. Settings
    named in ``keep`` (given by the user) are left alone."""
    from_sweep = {"dataset": sweep_config.get("dataset"), "data_dir": sweep_config.get("data_dir"),
                  "image_size": sweep_config.get("image_size"), "init_channels": sweep_config.get("target_channels"),
                  "cells": sweep_config.get("target_cells")}
    changes = {key: value for key, value in from_sweep.items() if key not in keep and value is not None}
    return config.updated(changes, "the sweep's settings").validate()


def plan_selection(sweep: Sweep, config: TrainConfig, budgets: Mapping[str, str] | None = None, top: int = 16,
                   by: Sequence[str] | None = None) -> dict[str, Any]:
    """Choose what to train (nothing is written): ``plan.json``'s content. See :mod:`rapdarts.sweep.selection`."""
    rows = sweep.results.ordered
    if not rows:
        raise RapdartsError(f"sweep {sweep.directory.path} has no finished search yet; finish it first with "
                            f"'rapdarts sweep --resume {sweep.directory.path}'")
    resolved = resolve_budgets(sweep.plan, rows, budgets)
    criteria = list(by) if by else [sweep.plan["cost"]]
    chosen, counts = select_genotypes(rows, resolved, top, criteria)
    quantities = {provider.name: provider.quantity for provider in sweep.providers}
    return {"format": SELECTION_FORMAT, "sweep": str(sweep.directory.path), "budgets": resolved, "by": criteria,
            "top": top, "counts": counts, "units": sweep.plan.get("units", {}), "quantities": quantities,
            "train_config": config.validate().to_dict(),
            "candidates": [{"rank": rank, "run": f"runs/{rank:02d}", **candidate.to_dict()}
                           for rank, candidate in enumerate(chosen, 1)]}


class Selection:
    """A selection directory: :meth:`run` trains every candidate not trained yet and writes the report."""

    def __init__(self, path: str | Path, plan: dict[str, Any]):
        self.directory = RunDirectory(Path(path).resolve())  # Ray workers may run elsewhere
        self.plan = plan
        self.config = TrainConfig.from_dict(plan["train_config"], f"{path}/plan.json")
        self.report = SelectionReport(self.directory.path, plan)

    def save(self) -> None:
        self.directory.write_json("plan.json", self.plan)

    def run(self, options: SweepOptions | None = None) -> SelectionReport:
        """Train what is missing (the directory is locked meanwhile) and write the table, CSV, JSON and plot."""
        with self.directory.claimed("selection directory"):
            jobs = [(self.directory.path / candidate["run"], partial(self._task, candidate))
                    for candidate in self.plan["candidates"]]
            run_unfinished(jobs, training_finished, options or SweepOptions(), self.config.device, self._record,
                           run_training, f"selection {self.directory.path}: trainings")
            self.report.write()
        return self.report

    def _task(self, candidate: Mapping[str, Any], threads: int | None) -> dict[str, Any]:
        config = dict(self.plan["train_config"])
        if config.get("threads") is None and threads:
            config["threads"] = threads
        searches = ", ".join(map(str, candidate["searches"]))
        return training_task(config, candidate["genotype"], f"rank {candidate['rank']} of {self.directory.path} "
                                                            f"(sweep searches {searches})")

    def _record(self, summary: Mapping[str, Any]) -> None:
        self.report.add(summary)
        self.report.write()
        row = self.report.row_of(summary["run_dir"])
        log.info("rank %d (%s) %s: test error %.2f%%, %s parameters", row["rank"], row["run"], summary["status"],
                 100 * row["test_error"], f"{row['parameters']:,}")


def start_selection(sweep_dir: str | Path, config: TrainConfig, budgets: Mapping[str, str] | None = None,
                    top: int = 16, by: Sequence[str] | None = None, name: str = "selection",
                    options: SweepOptions | None = None, keep: Collection[str] = ()) -> SelectionReport:
    """Select the ``top`` distinct genotypes of the sweep in ``sweep_dir`` meeting ``budgets`` (default: the
    sweep's), ranked ``by`` (default: the swept cost, largest first), and train each with ``config`` (matched
    to the sweep's data and network except the settings in ``keep``) in ``sweep_dir/name``."""
    if not (Path(sweep_dir) / "sweep.json").is_file():
        raise RapdartsError(f"{sweep_dir} is not a sweep directory (it has no sweep.json); name the directory "
                            "'rapdarts sweep' printed")
    sweep = load_sweep(sweep_dir)
    path = sweep.directory.path / name
    RunDirectory.refuse_used(path, "selection directory")
    config = matched_training(config, sweep.plan["config"], keep)
    plan = plan_selection(sweep, config, budgets, top, by)
    first = plan["candidates"][0]
    # The first training built, not run: its data, report costs and tracking fail here, before anything is written.
    prepare_training(config, Genotype.from_dict(first["genotype"]), run_dir=path / first["run"])
    selection = Selection(path, plan)
    selection.directory.create()
    selection.save()
    return selection.run(options)


def load_selection(path: str | Path) -> Selection:
    """The selection in ``path`` (a selection directory, or a sweep directory holding ``selection/``)."""
    path = Path(path)
    if not (path / "plan.json").exists() and (path / "selection" / "plan.json").exists():
        path = path / "selection"
    directory = RunDirectory.existing(path)
    if not directory.file("plan.json").exists():
        raise RapdartsError(f"{path} holds no selection (no plan.json); start one with 'rapdarts select SWEEP_DIR'")
    return Selection(directory.path, directory.read_versioned("plan.json", SELECTION_FORMAT))


def resume_selection(path: str | Path, options: SweepOptions | None = None) -> SelectionReport:
    """Continue a selection: finished trainings are kept, interrupted ones resume, missing ones run."""
    return load_selection(path).run(options)
