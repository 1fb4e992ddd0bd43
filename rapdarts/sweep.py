"""The paper's lambda sweep, automated: many searches with lambda drawn log-uniformly, judged by budget.

RAPDARTS (Sec. V, Figs. 5-6) finds a < 3M-parameter CIFAR-10 model by running 40 searches with
lambda drawn log-uniformly (first from ``[1e-11, 1e-6]``, then from finer ranges) and keeping the
architectures under budget. A sweep directory holds::

    sweep.json       settings, the base search config, every sample's lambda, seed and run folder
    runs/NNN/        one search run directory per sample
    results.json     per search: lambda, seed, genotype, cost under every provider, budget flags
    results.csv      the same as a table
    plots/cost_vs_lambda.png

Lambdas and seeds are drawn and written to ``sweep.json`` before any search starts, so an
interrupted sweep resumes (:func:`resume_sweep`) without redrawing: finished searches are
skipped, interrupted ones continue from their checkpoint. ``refine_rounds`` adds rounds that
sample again between the largest lambda still over budget and the smallest one under it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .budget import Budget, check_budgets, target_for
from .config import SearchConfig
from .costs.evaluate import CostEvaluator
from .costs.extension import providers_for
from .errors import RapdartsError
from .rundir import RunDirectory
from .sweep_report import SweepResults, result_row
from .sweep_run import cuda_devices, run_tasks

log = logging.getLogger("rapdarts")
SWEEP_FORMAT = 1


@dataclass
class SweepOptions:
    """How to run the searches (not part of what is searched; may change on resume)."""

    workers: int | None = None
    backend: str = "local"
    ray_address: str | None = None


def check_lambda_range(low: float, high: float, samples: int) -> None:
    """One-line errors for a range no log-uniform draw can come from."""
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= 0:
        raise RapdartsError(f"--lambda-range {low:g} {high:g}: both ends must be positive finite numbers (lambda is "
                            "drawn log-uniformly)")
    if low > high:
        raise RapdartsError(f"--lambda-range {low:g} {high:g}: low is above high; give the smaller value first")
    if samples < 1:
        raise RapdartsError(f"--samples {samples}: need at least one search")


def draw_lambdas(low: float, high: float, count: int, seed: int, round_index: int) -> list[float]:
    """``count`` lambdas log-uniform in ``[low, high]``, reproducible from ``(seed, round_index)``."""
    generator = np.random.default_rng([seed, round_index])
    return [float(x) for x in np.exp(generator.uniform(math.log(low), math.log(high), count))]


def refined_range(rows: Sequence[Mapping[str, Any]], cost: str, budget: float) -> tuple[float, float] | None:
    """Where the budget is crossed: between the largest lambda over budget and the smallest under it.

    Costs fall as lambda grows, but not strictly (each search has its own seed), so where the two
    overlap the range spans the overlap. ``None`` when every search is on one side of the budget.
    """
    over = [row["lambda"] for row in rows if row["costs"][cost] > budget]
    under = [row["lambda"] for row in rows if row["costs"][cost] <= budget]
    if not over or not under:
        return None
    low, high = sorted((max(over), min(under)))
    return low, high


def dataset_info(config: SearchConfig) -> dict[str, Any]:
    """Classes, channels and image size of the config's data (loaded once, to price costs)."""
    from .data import load_dataset

    data = load_dataset(config.dataset, config.data_dir, train=True, image_size=config.image_size)
    return {"num_classes": data.num_classes, "in_channels": data.in_channels, "image_size": list(data.image_size)}


def plan_sweep(config: SearchConfig, cost: str, low: float, high: float, samples: int,
               budgets: Mapping[str, str] | None = None, refine_rounds: int = 0,
               sampler_seed: int | None = None) -> dict[str, Any]:
    """Validate everything and draw round 1; returns the ``sweep.json`` content (nothing is written).

    Budgets are judged on the swept cost: a budget on another cost is an error, as is one below
    the cheapest architecture the search space allows.
    """
    check_lambda_range(low, high, samples)
    if refine_rounds < 0:
        raise RapdartsError("--refine-rounds must be >= 0")
    budgets = {**config.budgets, **(budgets or {})}  # budgets of a config file judge the sweep too
    base = config.updated({"costs": {**config.costs, cost: 0.0}, "budgets": {}}).validate()
    providers = providers_for(base)
    swept = providers.get(cost)
    for name in budgets:
        providers.get(name)
        if name != cost:
            raise RapdartsError(f"budget {name!r}: this sweep varies the lambda of {cost!r} only, so a budget on "
                                f"{name!r} cannot be steered; sweep --cost {name} for it, or use 'rapdarts search "
                                "--budget' to meet several budgets in one search")
    if refine_rounds and cost not in budgets:
        raise RapdartsError(f"--refine narrows lambda around where the budget is crossed: add --budget {cost}=VALUE")
    resolved = {name: Budget(name, *_parsed(name, text, swept.unit), str(text)) for name, text in budgets.items()}
    info = dataset_info(base)
    ranges = check_budgets(resolved, [swept], base, target_for(base, info))
    seed = config.seed if sampler_seed is None else sampler_seed
    units = {provider.name: provider.unit for provider in providers.by_name.values()}
    plan = {"format": SWEEP_FORMAT, "cost": cost, "unit": swept.unit, "units": units, "samples_per_round": samples,
            "refine_rounds": refine_rounds, "sampler_seed": seed, "dataset": info,
            "budgets": {name: {"text": b.text, "value": b.value, "unit": b.unit, "floor": ranges[name][0],
                               "ceiling": ranges[name][1]} for name, b in resolved.items()},
            "config": base.to_dict(), "rounds": [], "samples": []}
    _add_round(plan, low, high)
    return plan


def _parsed(name: str, text: str, unit: str) -> tuple[float, str]:
    from .budget import parse_budget_value

    return parse_budget_value(name, text, unit), unit


def _add_round(plan: dict[str, Any], low: float, high: float) -> None:
    round_index = len(plan["rounds"]) + 1
    lambdas = draw_lambdas(low, high, plan["samples_per_round"], plan["sampler_seed"], round_index)
    plan["rounds"].append({"round": round_index, "range": [low, high]})
    base_seed = int(plan["config"]["seed"])
    for lam in lambdas:
        index = len(plan["samples"])
        plan["samples"].append({"index": index, "round": round_index, "lambda": lam, "seed": base_seed + index,
                                "run": f"runs/{index:03d}"})


def sample_config(plan: Mapping[str, Any], sample: Mapping[str, Any], threads: int | None) -> dict[str, Any]:
    """The search config of one sample: the base config with its lambda and seed."""
    config = dict(plan["config"])
    config["costs"] = {**config["costs"], plan["cost"]: sample["lambda"]}
    config["seed"] = sample["seed"]
    if config.get("threads") is None and threads:
        config["threads"] = threads
    return config


class Sweep:
    """A sweep directory: :meth:`run` runs every missing search, refines, and writes the results."""

    def __init__(self, path: str | Path, plan: dict[str, Any]):
        self.directory = RunDirectory(Path(path).resolve())  # Ray workers may run elsewhere
        self.plan = plan
        self.config = SearchConfig.from_dict(plan["config"], f"{path}/sweep.json")
        self.results = SweepResults(self.directory.path, plan)
        self.evaluator = CostEvaluator()
        self.providers = list(providers_for(self.config).by_name.values())
        self.target = target_for(self.config, plan["dataset"])

    def save(self) -> None:
        self.directory.write_json("sweep.json", self.plan)

    def run(self, options: SweepOptions | None = None) -> SweepResults:
        options = options or SweepOptions()
        workers = options.workers or (None if options.backend == "ray" else max(1, cuda_devices()))
        threads = None if self.config.device.startswith("cuda") else max(1, (os.cpu_count() or 1) // (workers or 1))
        while True:
            todo = [s for s in self.plan["samples"] if s["index"] not in self.results.rows]
            if todo:
                log.info("sweep %s: %d of %d searches to run, %s at a time (%s)", self.directory.path, len(todo),
                         len(self.plan["samples"]), workers or "as many as fit", options.backend)
                by_dir = {str(self.directory.path / s["run"]): s for s in todo}
                tasks = [(run_dir, sample_config(self.plan, s, threads)) for run_dir, s in by_dir.items()]
                run_tasks(tasks, options.backend, workers, lambda summary: self._record(by_dir, summary),
                          {"address": options.ray_address, "cpus_per_task": threads or 1}
                          if options.backend == "ray" else None)
            if not self._refine():
                break
        self.results.write()
        return self.results

    def _record(self, by_dir: Mapping[str, Mapping[str, Any]], summary: Mapping[str, Any]) -> None:
        sample = by_dir[summary["run_dir"]]
        genotype_file = self.directory.path / sample["run"] / "genotype.json"
        if not genotype_file.exists():  # a Ray node without the shared filesystem ran it
            RunDirectory(genotype_file.parent).write_json("genotype.json", summary["genotype"])
        row = result_row(sample, summary, self.providers, self.target, self.evaluator, self.plan["budgets"])
        self.results.add(row)
        self.results.write()
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
        _add_round(plan, *found)
        self.save()
        return True


def start_sweep(plan: dict[str, Any], path: str | Path | None = None, root: str | Path = "sweeps",
                options: SweepOptions | None = None) -> SweepResults:
    """Create the sweep directory for ``plan`` (from :func:`plan_sweep`) and run it."""
    if path is None:
        directory = RunDirectory.create(root, prefix="sweep")
    else:
        directory = RunDirectory(path)
        if directory.path.exists() and any(directory.path.iterdir()):
            raise RapdartsError(f"sweep directory {directory.path} already has files; choose a new one, or continue "
                                f"it with --resume {directory.path}")
        directory.path.mkdir(parents=True, exist_ok=True)
    sweep = Sweep(directory.path, plan)
    sweep.save()
    return sweep.run(options)


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in ``path`` (its ``sweep.json`` and any results written so far)."""
    directory = RunDirectory.existing(path)
    plan = directory.read_json("sweep.json")
    if plan.get("format") != SWEEP_FORMAT:
        raise RapdartsError(f"{directory.path}/sweep.json has format {plan.get('format')}, expected {SWEEP_FORMAT}")
    return Sweep(directory.path, plan)


def resume_sweep(path: str | Path, options: SweepOptions | None = None) -> SweepResults:
    """Continue a sweep: finished searches are kept, interrupted ones resume, missing ones run."""
    return load_sweep(path).run(options)
