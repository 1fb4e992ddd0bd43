"""Does the search beat chance? Budget-targeted searches against random genotypes of the same size.

Li & Talwalkar (2019) showed random search is a strong baseline for DARTS, so this is the first
sanity check of any NAS code. With one training profile on the CIFAR-10 subset:

* ``--k`` budget-targeted searches (``rapdarts search --budget params=B --seeds K``), whose final
  genotypes land in the band ``[(1 - band) B, B]``;
* ``--k`` random genotypes from the same search space (any op but ``none`` on two distinct inputs per
  node, at most ``max_skip_connects`` skip-connects in the normal cell, as derivation allows), drawn
  until as many fall in the same parameter band, so size cannot explain a difference;
* all ``2k`` trained with the same settings and seed on the sweep backends (each a normal ``train`` run).

Reported: both test-error distributions (mean ± sample std) and each searched genotype's rank among
the random ones (1: better than every random genotype). With k = 3 or 4 and short trainings this is a
smoke test, not a verdict: seed noise of a few-epoch training is as large as the effects in question.

    python benchmarks/search_vs_random.py --quick                  # tiny searches and trainings: minutes
    python benchmarks/search_vs_random.py --out /work/bench/svr     # k=4, CPU-sized: hours on 2 cores
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (  # noqa: E402
    add_cifar_run_options,
    check_image_folder,
    cifar_configs,
    log_progress,
    machine,
    report,
)

SETTINGS = {
    "quick": {"search_profile": "tiny", "search": {"train_subset": 512}, "budget": "15k", "k": 3,
              "train_profile": "tiny", "train": {"train_subset": 1000, "test_subset": 500, "epochs": 3}},
    "full": {"search_profile": "cpu", "search": {"epochs": 4, "warmup_epochs": 1, "train_subset": 2000},
             "budget": "250k", "k": 4, "train_profile": "cpu", "train": {"epochs": 10}},
}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cifar_run_options(parser)
    parser.add_argument("--k", type=int, help="searches and random genotypes each (>= 3) [default: 3 quick, 4 full]")
    parser.add_argument("--budget", help="params budget [default: 15k quick, 250k full]")
    return parser.parse_args()


def random_in_band(count: int, low: float, high: float, price, max_skips: int, seed: int = 0,
                   tries: int = 100_000) -> tuple[list, int]:
    """``count`` random genotypes whose parameter count ``price(genotype)`` lies in ``[low, high]``, and the draws
    it took (rejection sampling; derivation's skip-connect limit on the normal cell applies)."""
    from rapdarts.space.genotype import random_genotype

    rng = random.Random(seed)
    found, keys = [], set()
    for draw in range(1, tries + 1):
        genotype = random_genotype(rng)
        if sum(op == "skip_connect" for op, _ in genotype.normal) > max_skips:
            continue
        if low <= price(genotype) <= high and genotype.canonical_key() not in keys:
            found.append(genotype)
            keys.add(genotype.canonical_key())
            if len(found) == count:
                return found, draw
    raise SystemExit(f"only {len(found)} random genotypes in [{low:,.0f}, {high:,.0f}] parameters after {tries} draws")


def train_all(genotypes: dict[str, object], config, root: Path, options) -> dict[str, dict]:
    """Train every genotype with ``config`` on the sweep backends; the figures of each report by name."""
    from rapdarts.sweep.backends import job_slots, run_jobs
    from rapdarts.sweep.training_job import run_training, training_task
    from rapdarts.train.report import key_figures

    workers, threads = job_slots(options, config.device)
    settings = {**config.to_dict(), "threads": config.threads or threads}
    tasks = [(str(root / name), training_task(settings, genotype.to_dict(), name)) for name, genotype in
             genotypes.items()]
    figures: dict[str, dict] = {}
    run_jobs(tasks, options, workers, threads,
             lambda summary: figures.update({Path(summary["run_dir"]).name: key_figures(summary["report"])}),
             work=run_training)
    return figures


def run(args: argparse.Namespace, root: Path) -> dict:
    import torch

    from rapdarts.api import providers_for
    from rapdarts.budget.values import parse_budget_value
    from rapdarts.costs.table import genotype_costs
    from rapdarts.costs.target import Pricing
    from rapdarts.space.genotype import Genotype
    from rapdarts.sweep import SweepOptions, search_seeds
    from rapdarts.sweep.plan import dataset_shape
    from rapdarts.sweep.seed_summary import spread

    mode = SETTINGS["quick" if args.quick else "full"]
    k, budget_text = args.k or mode["k"], args.budget or mode["budget"]
    if k < 3:
        raise SystemExit("--k must be at least 3")
    training, search = cifar_configs(args, mode, {"budgets": {"params": budget_text}})
    options = SweepOptions(workers=args.workers)
    seconds = {}

    started = time.perf_counter()
    searched = search_seeds(search, k, root / "searches", options=options)
    seconds["searches"] = time.perf_counter() - started

    params = providers_for(search).get("params")
    target = Pricing.from_settings(search.to_dict()).eval_target(dataset_shape(search))
    budget = parse_budget_value("params", budget_text, params.unit)
    low = (1 - search.budget_band) * budget
    started = time.perf_counter()
    randoms, draws = random_in_band(k, low, budget, lambda g: genotype_costs(g, [params], target)["params"],
                                    search.max_skip_connects)
    seconds["random_draws"] = time.perf_counter() - started

    genotypes = {f"searched-seed-{row['seed']}": Genotype.from_dict(row["genotype"]) for row in searched.ordered}
    genotypes.update({f"random-{i}": genotype for i, genotype in enumerate(randoms)})
    started = time.perf_counter()
    figures = train_all(genotypes, training, root / "trained", options)
    seconds["trainings"] = time.perf_counter() - started

    def errors(prefix: str) -> list[float]:
        return [figures[name]["test_error"] for name in genotypes if name.startswith(prefix)]

    random_errors = errors("random")
    ranks = {name: 1 + sum(e < figures[name]["test_error"] for e in random_errors)
             for name in genotypes if name.startswith("searched")}
    return {"machine": machine(torch.device("cpu")), "mode": "quick" if args.quick else "full", "k": k,
            "budget_params": budget, "band": [low, budget], "settings": mode, "image_size": args.image_size,
            "random_draws": draws, "seconds": seconds,
            "searched": spread(errors("searched")), "random": spread(random_errors), "ranks_among_random": ranks,
            "trained": {name: {"parameters": f["parameters"], "test_error": f["test_error"]}
                        for name, f in figures.items()},
            "search_headline": searched.headline(), "median_random_error": statistics.median(random_errors)}


def main() -> None:
    from rapdarts.sweep.seed_summary import describe_spread

    args = _parse()
    check_image_folder(args.data_dir)
    log_progress()
    with tempfile.TemporaryDirectory(prefix="rapdarts-svr-") as scratch:
        result = run(args, Path(args.out) if args.out else Path(scratch))
    ranks = ", ".join(f"{rank}/{result['k'] + 1}" for rank in result["ranks_among_random"].values())
    summary = (f"{result['mode']}, k={result['k']}, params in [{result['band'][0]:,.0f}, {result['band'][1]:,.0f}]: "
               f"searched {describe_spread(result['searched'], 100, 2, '%')} vs random "
               f"{describe_spread(result['random'], 100, 2, '%')}; searched ranks among random {ranks} (1 = best); "
               f"{sum(result['seconds'].values()) / 60:.1f} min")
    report("search_vs_random", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
