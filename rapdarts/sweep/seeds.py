"""The same training, or the same search, with N seeds in parallel: how much of a result is the seed.

DARTS-family results move by more than their reported gaps from one seed to the next (PC-DARTS
issue #47: 96.77-97.35% against 97.43% claimed; P-DARTS issue #39: 2.69% against 2.42%), so a
number is worth reporting as mean ± std over seeds. A seed study directory holds::

    seeds.json        kind (train or search), the base config, the genotype (train), the seeds
    runs/seed-N/      one normal 'rapdarts train' or 'rapdarts search' run directory per seed
    summary.json      per seed its figures, and their spread (:mod:`rapdarts.sweep.seed_summary`)
    seeds.csv  plots/seeds.png

Seeds are ``seed, seed + 1, ... seed + N - 1`` of the base config. The runs go through the sweep's
backends (local processes, Ray, torchrun per run); finished runs are not redone on ``--resume``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from rapdarts.api import prepare_search, prepare_training, providers_for
from rapdarts.costs.cache import CostCache
from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.search.config import SearchConfig
from rapdarts.space.genotype import Genotype
from rapdarts.storage.rundir import RunDirectory
from rapdarts.sweep.backends import SweepOptions, run_sample, run_unfinished, search_finished
from rapdarts.sweep.plan import dataset_shape
from rapdarts.sweep.results import genotype_summary, sweep_costs
from rapdarts.sweep.seed_summary import SeedSummary
from rapdarts.sweep.training_job import run_training, training_finished, training_task
from rapdarts.train.config import TrainConfig
from rapdarts.train.report import key_figures

log = logging.getLogger("rapdarts")

SEEDS_FORMAT = 1
KINDS = {"train": TrainConfig, "search": SearchConfig}


def check_seeds(seeds: int) -> None:
    if seeds < 2:
        raise RapdartsError(f"--seeds {seeds}: a spread needs at least 2 seeds")


def seed_plan(kind: str, config: TrainConfig | SearchConfig, seeds: int, genotype: Genotype | None = None,
              source: str = "") -> dict[str, Any]:
    """``seeds.json``'s content: the base config and one run folder per seed (nothing is written)."""
    check_seeds(seeds)
    base = int(config.seed)
    plan = {"format": SEEDS_FORMAT, "kind": kind, "config": config.to_dict(),
            "seeds": [{"seed": base + i, "run": f"runs/seed-{base + i}"} for i in range(seeds)]}
    if kind == "train":
        plan.update({"genotype": genotype.to_dict(), "source": source or "genotype"})
    else:
        plan["dataset"] = dataset_shape(config).to_dict()
    return plan


class SeedStudy:
    """A seed study directory: :meth:`run` runs every seed not finished yet and writes the summary."""

    def __init__(self, path: str | Path, plan: dict[str, Any]):
        self.directory = RunDirectory(Path(path).resolve())
        self.plan = plan
        self.kind = plan["kind"]
        self.config = KINDS[self.kind].from_dict(plan["config"], f"{path}/seeds.json")
        self.summary = SeedSummary(self.directory.path, plan)
        if self.kind == "search":
            self.providers = list(providers_for(self.config).by_name.values())
            self.target = Pricing.from_settings(plan["config"]).eval_target(DataShape.from_dict(plan["dataset"]))
            self.cache = CostCache()

    def save(self) -> None:
        self.directory.write_json("seeds.json", self.plan)

    def run(self, options: SweepOptions | None = None) -> SeedSummary:
        with self.directory.claimed("seed study directory"):
            jobs = [(self.directory.path / entry["run"], partial(self._task, entry)) for entry in self.plan["seeds"]]
            train = self.kind == "train"
            run_unfinished(jobs, training_finished if train else search_finished, options or SweepOptions(),
                           self.config.device, self._record, run_training if train else run_sample,
                           f"{self.kind} with {len(jobs)} seeds in {self.directory.path}: runs")
            self.summary.write()
        return self.summary

    def _task(self, entry: Mapping[str, Any], threads: int | None) -> dict[str, Any]:
        config = {**self.plan["config"], "seed": entry["seed"]}
        if config.get("threads") is None and threads:
            config["threads"] = threads
        if self.kind == "search":
            return config
        return training_task(config, self.plan["genotype"], f"{self.plan['source']} (seed {entry['seed']})")

    def _record(self, summary: Mapping[str, Any]) -> None:
        run = Path(summary["run_dir"]).relative_to(self.directory.path).as_posix()
        seed = next(entry["seed"] for entry in self.plan["seeds"] if entry["run"] == run)
        row: dict[str, Any] = {"seed": seed, "run": run, "status": summary["status"]}
        if self.kind == "train":
            row.update(key_figures(summary["report"]))
            log.info("seed %d %s: test error %.2f%%", seed, summary["status"], 100 * row["test_error"])
        else:
            genotype = Genotype.from_dict(summary["genotype"], f"{summary['run_dir']}/genotype.json")
            row.update({"valid_acc": summary["valid_acc"], "key": genotype.canonical_key(),
                        "summary": genotype_summary(genotype), "genotype": genotype.to_dict(),
                        "costs": sweep_costs(genotype, self.providers, self.target, self.cache)})
            log.info("seed %d %s: valid acc %.4f, %s", seed, summary["status"], row["valid_acc"], row["summary"])
        self.summary.add(row)
        self.summary.write()


def _start(plan: dict[str, Any], path: str | Path | None, root: str | Path, options: SweepOptions | None,
           check: Callable[[Path], object]) -> SeedSummary:
    """Name the study directory, ``check(first run directory)`` (builds the first run without writing anything,
    so bad settings, data or budgets fail here), then create the directory and run every seed."""
    directory = RunDirectory.new(path, root, f"{plan['kind']}-seeds")
    check(directory.path / plan["seeds"][0]["run"])
    study = SeedStudy(directory.path, plan)
    directory.create()
    study.save()
    return study.run(options)


def train_seeds(config: TrainConfig, genotype: Genotype, seeds: int, path: str | Path | None = None,
                root: str | Path = "runs", options: SweepOptions | None = None, source: str = "") -> SeedSummary:
    """Train ``genotype`` with seeds ``config.seed ... + seeds - 1`` in parallel; the summary has mean ± std of the
    test error. Settings, data and report costs are checked first (nothing is written when they fail)."""
    plan = seed_plan("train", config, seeds, genotype, source)
    return _start(plan, path, root, options, lambda first: prepare_training(config, genotype, run_dir=first))


def search_seeds(config: SearchConfig, seeds: int, path: str | Path | None = None, root: str | Path = "runs",
                 options: SweepOptions | None = None) -> SeedSummary:
    """Run the search of ``config`` with ``seeds`` seeds in parallel; the summary says how often the same genotype
    came back and how far derived costs and search accuracy spread. Checked first, like :func:`train_seeds`."""
    plan = seed_plan("search", config, seeds)
    return _start(plan, path, root, options, lambda first: prepare_search(config, run_dir=first))


def is_seed_study(path: str | Path) -> bool:
    """Whether ``path`` is a seed study directory (so ``--resume`` continues the study, not one run)."""
    return (Path(path) / "seeds.json").is_file()


def load_seeds(path: str | Path) -> SeedStudy:
    directory = RunDirectory.existing(path)
    if not directory.file("seeds.json").exists():
        raise RapdartsError(f"{path} holds no seed study (no seeds.json); start one with --seeds N")
    return SeedStudy(directory.path, directory.read_versioned("seeds.json", SEEDS_FORMAT))


def resume_seeds(path: str | Path, options: SweepOptions | None = None) -> SeedSummary:
    """Continue a seed study: finished runs are kept, interrupted ones resume, missing ones run."""
    return load_seeds(path).run(options)
