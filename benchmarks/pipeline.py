"""The paper's whole procedure on the CIFAR-10 subset, timed: sweep -> select under a budget -> train -> seeds.

Phases, each timed on its own (wall seconds):

1. ``sweep``: ``--samples`` searches with the params lambda drawn log-uniformly (``rapdarts sweep``), their
   costs priced on the network the trainings use;
2. ``select``: the ``--top`` largest distinct genotypes under the budget trained (``rapdarts select``). The
   budget is the median derived parameter count of the sweep, so about half the searches meet it whatever
   the lambdas did (this benchmark times the procedure; ``benchmarks/budget.py`` judges budgets);
3. ``seeds``: the best of them retrained with ``--seeds`` seeds (``rapdarts train --seeds``): mean ± std.

Data: the CIFAR-10 subset (10,000 training / 2,000 test images, ImageFolder) resized to ``--image-size``.
The full setting takes a few hours on 2 CPU cores; ``--quick`` (tiny searches and trainings, minutes)
checks that the pipeline runs and what each phase costs at that size::

    python benchmarks/pipeline.py --quick
    python benchmarks/pipeline.py --out /work/bench/pipeline          # full: hours on 2 cores
"""

from __future__ import annotations

import argparse
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
    # C=4, cells 3/4/5, 3 epochs per stage on 512 images; trainings C=4, 5 cells, 3 epochs on 1,000 images.
    "quick": {"search_profile": "tiny", "search": {"train_subset": 512}, "samples": 4, "lambda_range": (1e-7, 1e-4),
              "train_profile": "tiny", "train": {"train_subset": 1000, "test_subset": 500, "epochs": 3},
              "top": 2, "seeds": 2},
    # C=8, 4 epochs per stage (1 warm-up) on 2,000 images; trainings C=16, 8 cells, 10 epochs on all 10,000.
    "full": {"search_profile": "cpu", "search": {"epochs": 4, "warmup_epochs": 1, "train_subset": 2000},
             "samples": 6, "lambda_range": (1e-8, 1e-5), "train_profile": "cpu", "train": {"epochs": 10},
             "top": 3, "seeds": 3},
}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cifar_run_options(parser)
    return parser.parse_args()


def run(args: argparse.Namespace, root: Path) -> dict:
    from rapdarts.space.genotype import Genotype
    from rapdarts.sweep import SweepOptions, plan_sweep, start_selection, start_sweep, train_seeds
    from rapdarts.train.config import TrainConfig

    mode = SETTINGS["quick" if args.quick else "full"]
    training, search = cifar_configs(args, mode)
    options = SweepOptions(workers=args.workers)
    seconds = {}
    started = time.perf_counter()
    plan = plan_sweep(search, "params", *mode["lambda_range"], mode["samples"])
    results = start_sweep(plan, root / "sweep", options=options)
    seconds["sweep"] = time.perf_counter() - started
    budget = statistics.median(row["costs"]["params"] for row in results.ordered)

    started = time.perf_counter()
    selection = start_selection(root / "sweep", training, {"params": f"{budget:.0f}"}, mode["top"], ["params"],
                                options=options)
    seconds["select_and_train"] = time.perf_counter() - started
    best = selection.best()

    started = time.perf_counter()
    config = TrainConfig.from_dict(selection.plan["train_config"])
    seeds = train_seeds(config, Genotype.from_dict(best["genotype"]), mode["seeds"], root / "seeds",
                        options=options, source=f"selection rank {best['rank']}")
    seconds["seeds"] = time.perf_counter() - started
    rows = [{key: row[key] for key in ("rank", "searches", "search_valid_acc", "predicted", "parameters",
                                       "test_error", "onnx_latency_ms", "train_seconds")} for row in selection.rows()]
    import torch

    return {"machine": machine(torch.device("cpu")), "mode": "quick" if args.quick else "full", "settings": mode,
            "image_size": args.image_size, "workers": args.workers, "budget_params": budget,
            "seconds": seconds, "total_seconds": sum(seconds.values()), "counts": selection.plan["counts"],
            "selection": rows, "best_rank": best["rank"], "seeds": seeds.aggregate(),
            "seeds_headline": seeds.headline(), "table": selection.table()}


def main() -> None:
    args = _parse()
    check_image_folder(args.data_dir)
    log_progress()
    with tempfile.TemporaryDirectory(prefix="rapdarts-pipeline-") as scratch:
        root = Path(args.out) if args.out else Path(scratch)
        result = run(args, root)
    phases = ", ".join(f"{name} {value / 60:.1f} min" for name, value in result["seconds"].items())
    trained = "; ".join(f"#{r['rank']} {r['parameters']:,} params {100 * r['test_error']:.1f}%"
                        for r in result["selection"])
    summary = (f"{result['mode']}: {result['counts']['searches']} searches, {result['counts']['distinct']} distinct, "
               f"{result['counts']['meeting_budgets']} under the median ({result['budget_params']:,.0f} params); "
               f"trained {trained}; best #{result['best_rank']} over seeds: {result['seeds_headline']}; {phases}")
    report("pipeline", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
