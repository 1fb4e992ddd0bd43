"""A sweep's plan: lambdas drawn log-uniformly (and refined), one seed and run folder per search.

RAPDARTS (Sec. V, Figs. 5-6) finds a < 3M-parameter CIFAR-10 model by running 40 searches with
lambda drawn log-uniformly (first from ``[1e-11, 1e-6]``, then from finer ranges) and keeping the
architectures under budget. Everything that decides what is searched is drawn here, before any
search starts, and kept in ``sweep.json``, so an interrupted sweep resumes without redrawing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rapdarts.api import providers_for
from rapdarts.budget.floor import check_budgets
from rapdarts.budget.values import Budget, parse_budget_value
from rapdarts.costs.target import Pricing
from rapdarts.data import DataShape, load_dataset
from rapdarts.errors import RapdartsError
from rapdarts.search.config import SearchConfig

SWEEP_FORMAT = 1


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


def dataset_shape(config: SearchConfig) -> DataShape:
    """Classes, channels and image size of the config's data (loaded once, to price costs)."""
    return load_dataset(config.dataset, config.data_dir, train=True, image_size=config.image_size).shape


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
    resolved = {name: Budget(name, parse_budget_value(name, text, swept.unit), swept.unit, str(text))
                for name, text in budgets.items()}
    shape = dataset_shape(base)
    target = Pricing.from_settings(base.to_dict()).eval_target(shape)
    ranges = check_budgets(resolved, [swept], base.primitives, base.max_skip_connects, target)
    seed = config.seed if sampler_seed is None else sampler_seed
    units = {provider.name: provider.unit for provider in providers.by_name.values()}
    plan = {"format": SWEEP_FORMAT, "cost": cost, "unit": swept.unit, "units": units, "samples_per_round": samples,
            "refine_rounds": refine_rounds, "sampler_seed": seed, "dataset": shape.to_dict(),
            "budgets": {name: {"text": b.text, "value": b.value, "unit": b.unit, "floor": ranges[name][0],
                               "ceiling": ranges[name][1]} for name, b in resolved.items()},
            "config": base.to_dict(), "rounds": [], "samples": []}
    add_round(plan, low, high)
    return plan


def add_round(plan: dict[str, Any], low: float, high: float) -> None:
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
