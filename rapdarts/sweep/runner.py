"""The paper's lambda sweep, automated: many searches with lambda drawn log-uniformly, judged by budget.

A sweep directory holds::

    sweep.json       settings, the base search config, every sample's lambda, seed and run folder
    runs/NNN/        one search run directory per sample
    results.json     per search: lambda, seed, genotype, cost under every provider, budget flags
    results.csv      the same as a table
    plots/cost_vs_lambda.png

Lambdas and seeds are drawn (:mod:`rapdarts.sweep.plan`) and written to ``sweep.json`` before any
search starts, so an interrupted sweep resumes (:func:`resume_sweep`) without redrawing: finished
searches are skipped, interrupted ones continue from their checkpoint. ``refine_rounds`` adds rounds that
sample again between the largest lambda still over budget and the smallest one under it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rapdarts.api import providers_for
from rapdarts.costs.cache import CostCache
from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape
from rapdarts.runtime.tracking import tracker_for
from rapdarts.search.config import SearchConfig
from rapdarts.storage.rundir import RunDirectory
from rapdarts.sweep.backends import SweepOptions, job_slots, run_jobs
from rapdarts.sweep.plan import SWEEP_FORMAT, add_round, refined_range, sample_config
from rapdarts.sweep.results import SweepResults, result_row

log = logging.getLogger("rapdarts")


class Sweep:
    """A sweep directory: :meth:`run` runs every missing search, refines, and writes the results."""

    def __init__(self, path: str | Path, plan: dict[str, Any]):
        self.directory = RunDirectory(Path(path).resolve())  # Ray workers may run elsewhere
        self.plan = plan
        self.config = SearchConfig.from_dict(plan["config"], f"{path}/sweep.json")
        self.results = SweepResults(self.directory.path, plan)
        self.cache = CostCache()
        self.providers = list(providers_for(self.config).by_name.values())
        self.target = Pricing.from_settings(plan["config"]).eval_target(DataShape.from_dict(plan["dataset"]))
        self.tracker = tracker_for(self.config.tensorboard, self.directory.path)

    def save(self) -> None:
        self.directory.write_json("sweep.json", self.plan)

    def run(self, options: SweepOptions | None = None) -> SweepResults:
        """Run every missing search (refining when due) and write the results; the sweep directory is locked
        meanwhile, so a second ``--resume`` cannot run the same searches at once."""
        with self.directory.claimed("sweep directory"):
            try:
                return self._run(options or SweepOptions())
            finally:
                self.tracker.close()

    def _run(self, options: SweepOptions) -> SweepResults:
        workers, threads = job_slots(options, self.config.device)
        while True:
            todo = [s for s in self.plan["samples"] if s["index"] not in self.results.rows]
            if todo:
                log.info("sweep %s: %d of %d searches to run, %s at a time (%s)", self.directory.path, len(todo),
                         len(self.plan["samples"]), workers or "as many as fit", options.backend)
                by_dir = {str(self.directory.path / s["run"]): s for s in todo}
                tasks = [(run_dir, sample_config(self.plan, s, threads)) for run_dir, s in by_dir.items()]
                run_jobs(tasks, options, workers, threads, lambda summary: self._record(by_dir, summary))
            if not self._refine():
                break
        self.results.write()
        return self.results

    def _record(self, by_dir: Mapping[str, Mapping[str, Any]], summary: Mapping[str, Any]) -> None:
        sample = by_dir[summary["run_dir"]]
        genotype_file = self.directory.path / sample["run"] / "genotype.json"
        if not genotype_file.exists():  # a Ray node without the shared filesystem ran it
            RunDirectory(genotype_file.parent).write_json("genotype.json", summary["genotype"])
        row = result_row(sample, summary, self.providers, self.target, self.cache, self.plan["budgets"])
        self.results.add(row)
        self.results.write()
        self.tracker.row({"log10_lambda": math.log10(sample["lambda"]), "costs": row["costs"],
                          "valid_acc": row["valid_acc"], "meets_all_budgets": row["meets_all"]}, sample["index"],
                         "sweep/")
        log.info("search %d (lambda %.3g, seed %d) %s: %s%s", sample["index"], sample["lambda"], sample["seed"],
                 summary["status"], ", ".join(f"{k} {v:,.6g}" for k, v in row["costs"].items() if v is not None),
                 "" if row["meets_all"] else "  (misses a budget)")

    def _refine(self) -> bool:
        """Add a refinement round when one is due and the budget is crossed; True when one was added."""
        plan = self.plan
        if len(plan["rounds"]) > plan["refine_rounds"]:
            return False
        cost = plan["cost"]
        found = refined_range(list(self.results.rows.values()), cost, plan["budgets"][cost]["value"])
        if found is None:
            log.warning("no search of the sweep crossed the %s budget; not refining (widen --lambda-range)", cost)
            plan["refine_rounds"] = len(plan["rounds"]) - 1
            self.save()
            return False
        log.info("refining: lambda in [%.4g, %.4g]", *found)
        add_round(plan, *found)
        self.save()
        return True


def start_sweep(plan: dict[str, Any], path: str | Path | None = None, root: str | Path = "sweeps",
                options: SweepOptions | None = None) -> SweepResults:
    """Create the sweep directory for ``plan`` (from :func:`plan_sweep`) and run it."""
    directory = RunDirectory.new(path, root, "sweep")
    directory.create()
    sweep = Sweep(directory.path, plan)
    sweep.save()
    return sweep.run(options)


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in ``path`` (its ``sweep.json`` and any results written so far)."""
    directory = RunDirectory.existing(path)
    return Sweep(directory.path, directory.read_versioned("sweep.json", SWEEP_FORMAT))


def resume_sweep(path: str | Path, options: SweepOptions | None = None) -> SweepResults:
    """Continue a sweep: finished searches are kept, interrupted ones resume, missing ones run."""
    return load_sweep(path).run(options)
