"""Meeting a budget: budget-targeted searches vs a fixed-lambda sweep of the same total compute.

Three params budgets between the search space's floor and the cost of an unconstrained search
(``floor + f * (unconstrained - floor)`` for each fraction ``f``). For each budget, ``--seeds``
budget-targeted searches (``--budget params=B``, one per seed); against them, one fixed-lambda
sweep of ``3 * seeds`` searches (lambda log-uniform in ``--lambda-range``, the paper's procedure),
judged against all three budgets, so both sides spend the same number of searches. Reported per
budget: the share of searches whose derived architecture meets it, the mean relative distance
``(B - C) / B`` of those that do, and for the sweep the distance of its best search under budget
(what the paper's procedure delivers), and for the targeted searches the same before the final
repair (the genotype the search itself derived). Also reported: the relative error of the derivation-aware
expected cost and of the paper's 14-edge expectation against the derived cost at every stage end,
over the budget-targeted searches and over the sweep's fixed-lambda searches.

The latency series (``--cost latency``) profiles a calibrated latency table of the evaluation
network on this machine, runs ``--seeds`` budget-targeted searches per budget (``--budget
latency@one=B`` with that table, one at a time so that nothing else runs while the final network
is measured), then times every final network again, independently, with the same robust
statistic, and reports where it measured against its budget (the target is ``[0.90 B, B]`` for
every search) next to each search's own verdict (met, missed, undecided) and margin. With
``--targets one,two`` every search meets three budgets at once: a 1-thread and a 2-thread table
made here (``latency@one``, ``latency@two``) and parameters. The params series reports the share
of targeted searches whose final architecture lands in ``[0.97 B, B]``.

    python benchmarks/budget.py                           # params: about 25 min on 2 cores (see RESULTS.md)
    python benchmarks/budget.py --cost latency            # latency: about 40 min
    python benchmarks/budget.py --cost latency --targets one,two --fractions 0.5     # two targets at once
    python benchmarks/budget.py --seeds 1 --epochs 1 --cells 1,1,1 --train-subset 256 --no-write   # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--cells", default="3,5,7")
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fractions", default="0.25,0.5,0.75", help="budgets between floor (0) and unconstrained (1)")
    parser.add_argument("--lambda-range", nargs=2, type=float, default=(1e-9, 1e-6))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cost", choices=("params", "latency"), default="params", help="the budgeted cost")
    parser.add_argument("--targets", default="one", help="latency series: 'one' (a 1-thread table), or 'one,two' "
                        "(1- and 2-thread tables, two latency budgets and a params budget in every search)")
    parser.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--retime-only", action="store_true", help="latency series: no searches; re-time the final "
                        "networks of the series kept under --out (when the machine disturbed a series' re-timing)")
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args()


def _stage_errors(run: Path, target, provider, config) -> list[dict]:
    """Per stage end: derived cost, derivation-aware prediction and 14-edge expectation (from the run files)."""
    import torch

    from rapdarts.budget.derived_cost import derived_expected_cost
    from rapdarts.costs import CostCache, CostTable, expected_cost

    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    alphas = [json.loads(line) for line in (run / "alphas.jsonl").read_text().splitlines()]
    rows = []
    for index, (row, snapshot) in enumerate(zip(metrics, alphas)):
        if index + 1 < len(metrics) and metrics[index + 1]["stage"] == row["stage"]:
            continue
        candidates = {cell: tuple(tuple(names) for names in edges) for cell, edges in snapshot["candidates"].items()}
        table = CostTable.build(provider, target, candidates, CostCache())
        values = {cell: torch.tensor(v) for cell, v in snapshot["alphas"].items()}
        actual = row["genotype_cost"]["params"]
        predicted = float(derived_expected_cost(values, table, candidates, config.budget_temperature,
                                                config.max_skip_connects))
        plain = float(expected_cost(values, table))
        rows.append({"stage": row["stage"], "derived": actual, "predicted_error": predicted / actual - 1,
                     "expected_error": plain / actual - 1})
    return rows


def _error_summary(runs: list[list[dict]]) -> dict:
    stages = sorted({row["stage"] for rows in runs for row in rows})
    summary = {}
    for stage in stages:
        rows = [row for rows in runs for row in rows if row["stage"] == stage]
        summary[f"stage{stage}"] = {
            "mean_abs_predicted_error": statistics.mean(abs(r["predicted_error"]) for r in rows),
            "mean_abs_expected_error": statistics.mean(abs(r["expected_error"]) for r in rows)}
    return summary


def latency_series(args: argparse.Namespace) -> None:
    """Budget-targeted searches under measured latency budgets, each final network re-timed independently.

    ``--targets one`` (default): one latency budget, a 1-thread table made here. ``--targets one,two``: two
    latency budgets at once (a 1-thread and a 2-thread table made here, instances ``latency@one`` and
    ``latency@two``) and a params budget, every budget at the same fraction of its range.
    """
    import torch
    from common import machine, report

    from rapdarts.budget.floor import cost_range
    from rapdarts.costs.target import Pricing
    from rapdarts.latency.maker import make_table
    from rapdarts.latency.networks import measure_networks
    from rapdarts.latency.table import LatencyTable
    from rapdarts.ondevice import TimingSettings, cache_sizes
    from rapdarts.plugins.manager import discover_providers
    from rapdarts.search.config import profile_config
    from rapdarts.space.genotype import Genotype
    from rapdarts.sweep.plan import dataset_shape

    started = time.perf_counter()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="budget-latency-"))
    root.mkdir(parents=True, exist_ok=True)
    overrides = {"device": "cpu", "threads": 1, "dataset": args.dataset, "data_dir": args.data_dir,
                 "epochs": args.epochs, "warmup_epochs": args.warmup_epochs, "cells": args.cells}
    if args.train_subset:
        overrides["train_subset"] = args.train_subset
    base = profile_config(args.profile).updated(overrides).validate()
    target = Pricing.from_settings(base.to_dict()).eval_target(dataset_shape(base))
    targets = args.targets.split(",")
    tables, options = {}, {}
    for name in targets:
        path = root / f"table-{name}.json"
        if not path.exists():
            make_table(target, path, TimingSettings(intra_threads=2 if name == "two" else 1), progress=False)
        tables[f"latency@{name}"] = LatencyTable.load(path)
        options[f"latency@{name}.table"] = str(path)
    base = base.updated({"cost_options": options})
    providers = discover_providers(options=options)
    budgeted = [*tables, *(["params"] if len(targets) > 1 else [])]
    ranges = {name: cost_range(providers.get(name), base.primitives, base.max_skip_connects, target)
              for name in budgeted}
    if args.retime_only:
        runs, free = _kept_runs(root, budgeted, tables, ranges)
    else:
        runs, free = _searched_runs(args, base, root, budgeted, tables, ranges)
    # Every final network timed again, independently, after all searches, with the robust statistic and at least
    # as many rounds as a budget's measurement: together in interleaved rounds, per table.
    # The table's reference network is timed in the same rounds: its drift from the table says whether the machine
    # ran slower at re-timing than when the table was made (a slow phase the searches' measurements did not see).
    finals = [(str(i), Genotype.from_dict(run["genotype"])) for i, run in enumerate(runs)]
    drift = {}
    for name, table in tables.items():
        settings = dataclasses.replace(table.settings, sessions=max(table.settings.sessions, 10))
        reference = table.header["reference"]
        retimed = measure_networks([*finals, ("reference", Genotype.from_dict(reference["genotype"]))], target,
                                   settings, seed=7)
        drift[name] = retimed["reference"].latency_ms / reference["latency_ms"]
        for i, run in enumerate(runs):
            run.setdefault("retimed", {})[name] = retimed[str(i)].latency_ms
            run.setdefault("share", {})[name] = retimed[str(i)].latency_ms / run["budgets"][name]
    for run in runs:
        run["in_band"] = {n: 0.90 <= share <= 1.0 for n, share in run["share"].items()}
        if "params" in budgeted:
            run["share"]["params"] = run["predicted"]["params"] / run["budgets"]["params"]
            run["in_band"]["params"] = run["share"]["params"] <= 1.0
    in_band = {name: sum(run["in_band"][name] for run in runs) for name in tables}
    met = {name: sum(run["meets"][name] is True for run in runs) for name in budgeted}
    undecided = {name: sum(run["meets"][name] is None for run in runs) for name in tables}
    result = {"benchmark": "budget-latency", "targets": targets,
              "machine": machine(torch.device("cpu")) + f"; caches {cache_sizes()}",
              "tables": {name: table.describe_origin() for name, table in tables.items()},
              "noise_floors": {name: table.header.get("noise_floor") for name, table in tables.items()},
              "ranges": ranges, "unconstrained": free, "runs": runs, "in_band": in_band, "met": met,
              "reference_drift": drift, "retime_only": args.retime_only,
              "undecided": undecided, "searches": len(runs) + 1, "seconds": time.perf_counter() - started,
              "root": str(root)}
    summary = "; ".join(
        f"{name}: re-timed in [0.90 B, B] {in_band[name]}/{len(runs)} (shares "
        + ", ".join(f"{100 * run['share'][name]:.1f}%" for run in runs) + f"), verdicts met {met[name]}, undecided "
        f"{undecided[name]}, margins " + ", ".join(f"{100 * run['margin'][name]:.1f}%" for run in runs)
        + f", reference network re-timed at {drift[name]:.3f}x its table latency"
        for name in tables)
    if args.retime_only:
        summary = "re-timing only (searches kept from an earlier run); " + summary
    if "params" in budgeted:
        summary += f"; params met {met['params']}/{len(runs)}"
    summary += f"; {len(runs)} searches at fractions {args.fractions} of each range, {result['seconds'] / 60:.0f} min"
    report("budget", result, summary, write=not args.no_write)


def _searched_runs(args: argparse.Namespace, base, root: Path, budgeted: list[str], tables: dict,
                   ranges: dict) -> tuple[list[dict], dict[str, float]]:
    """The unconstrained search and the budget-targeted searches of the latency series, as runs."""
    from rapdarts.api import search

    reference = search(base.updated({"costs": {name: 0.0 for name in budgeted}}), run_dir=root / "unconstrained",
                       show_progress=False)
    free = _unconstrained(reference.run_dir, budgeted)
    fractions = [float(f) for f in args.fractions.split(",")]
    runs = []
    for b, fraction in enumerate(fractions):
        budgets = {name: ranges[name][0] + fraction * (free[name] - ranges[name][0]) for name in budgeted}
        texts = {name: (f"{value:.6f}ms" if name in tables else f"{value:.0f}") for name, value in budgets.items()}
        for seed in range(args.seeds):
            config = base.updated({"budgets": texts, "seed": seed})
            result = search(config, run_dir=root / f"budget{b}-seed{seed}", show_progress=False)
            runs.append(_run_record(result.run_dir, b, fraction, seed, budgets, budgeted, tables))
    return runs, free


def _run_record(run_dir: Path, b: int, fraction: float, seed: int, budgets: dict[str, float], budgeted: list[str],
                tables: dict) -> dict:
    """One search of the series as the benchmark reports it, read from its run directory."""
    record = json.loads((run_dir / "budgets.json").read_text())
    summary = record["budgets"]
    return {"budget_index": b, "fraction": fraction, "seed": seed, "budgets": budgets,
            "genotype": json.loads((run_dir / "genotype.json").read_text()),
            "verdicts": {n: summary[n].get("verdict", "met" if summary[n]["meets"] else "missed") for n in budgeted},
            "meets": {n: summary[n]["meets"] for n in budgeted},
            "margin": {n: summary[n].get("margin") for n in tables},
            "noise": {n: summary[n].get("noise") for n in tables},
            "predicted": {n: summary[n]["final"] for n in budgeted},
            "measured_in_search": {n: summary[n]["measured"] for n in tables},
            "note": (record.get("repair") or {}).get("note")}


def _unconstrained(run_dir: Path, budgeted: list[str]) -> dict[str, float]:
    """The costs of the unconstrained search's final genotype (the top of every budget's fraction scale)."""
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    return {name: last["genotype_cost"][name] for name in budgeted}


def _kept_runs(root: Path, budgeted: list[str], tables: dict, ranges: dict) -> tuple[list[dict], dict[str, float]]:
    """The runs of a series kept under ``root`` (``--retime-only``), read back from their run directories."""
    free = _unconstrained(root / "unconstrained", budgeted)
    runs = []
    for run_dir in sorted(root.glob("budget*-seed*")):
        b, seed = (int(part) for part in run_dir.name.removeprefix("budget").split("-seed"))
        summary = json.loads((run_dir / "budgets.json").read_text())["budgets"]
        name = budgeted[0]
        fraction = (summary[name]["budget"] - ranges[name][0]) / (free[name] - ranges[name][0])
        runs.append(_run_record(run_dir, b, round(fraction, 3), seed, {n: summary[n]["budget"] for n in budgeted},
                                budgeted, tables))
    return runs, free


def main() -> None:
    args = _parse()
    if args.cost == "latency":
        latency_series(args)
        return
    import torch
    from common import machine, report

    from rapdarts.budget.floor import cost_range
    from rapdarts.costs import CostCache, genotype_costs
    from rapdarts.costs.target import Pricing
    from rapdarts.plugins.manager import discover_providers
    from rapdarts.search.config import profile_config
    from rapdarts.space.genotype import Genotype
    from rapdarts.sweep.backends import run_tasks
    from rapdarts.sweep.plan import dataset_shape, draw_lambdas

    started = time.perf_counter()
    overrides = {"device": "cpu", "threads": 1, "dataset": args.dataset, "data_dir": args.data_dir,
                 "epochs": args.epochs, "warmup_epochs": args.warmup_epochs, "cells": args.cells}
    if args.train_subset:
        overrides["train_subset"] = args.train_subset
    base = profile_config(args.profile).updated(overrides).validate()
    provider = discover_providers().get("params")
    target = Pricing.from_settings(base.to_dict()).eval_target(dataset_shape(base))
    floor, ceiling = cost_range(provider, base.primitives, base.max_skip_connects, target)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="budget-bench-"))
    cache = CostCache()

    def run_all(named: dict[str, dict]) -> dict[str, float]:
        """Run searches (name -> config dict) two at a time; return each derived params cost."""
        costs: dict[str, float] = {}

        def done(summary: dict) -> None:
            genotype = Genotype.from_dict(summary["genotype"])
            costs[Path(summary["run_dir"]).name] = genotype_costs(genotype, [provider], target, cache)["params"]

        run_tasks([(str(root / name), config) for name, config in named.items()], "local", args.workers, done)
        return costs

    reference = run_all({"unconstrained": base.to_dict()})["unconstrained"]
    fractions = [float(f) for f in args.fractions.split(",")]
    budgets = [floor + f * (reference - floor) for f in fractions]
    targeted_runs = {f"budget{b}-seed{s}": base.updated({"budgets": {"params": repr(budget)}, "seed": s}).to_dict()
                     for b, budget in enumerate(budgets) for s in range(args.seeds)}
    count = len(targeted_runs)
    lambdas = draw_lambdas(*args.lambda_range, count, seed=0, round_index=1)
    sweep_runs = {f"sweep{i:02d}": base.updated({"costs": {"params": lam}, "seed": i}).to_dict()
                  for i, lam in enumerate(lambdas)}
    costs = run_all({**targeted_runs, **sweep_runs})

    def distance(cost: float, budget: float) -> float:
        return (budget - cost) / budget

    per_budget = []
    for b, (fraction, budget) in enumerate(zip(fractions, budgets)):
        targeted = [costs[f"budget{b}-seed{s}"] for s in range(args.seeds)]
        searched = [json.loads((root / f"budget{b}-seed{s}" / "budgets.json").read_text())["budgets"]["params"]
                    ["searched"] for s in range(args.seeds)]
        sweep = [costs[f"sweep{i:02d}"] for i in range(count)]
        met_t = [c for c in targeted if c <= budget]
        met_searched = [c for c in searched if c <= budget]
        met_s = [c for c in sweep if c <= budget]
        per_budget.append({
            "fraction": fraction, "budget": budget,
            "targeted": {"costs": targeted, "share_meeting": len(met_t) / len(targeted),
                         "share_in_band": sum(0.97 * budget <= c <= budget for c in targeted) / len(targeted),
                         "mean_distance": statistics.mean(distance(c, budget) for c in met_t) if met_t else None,
                         "searched_costs": searched, "share_meeting_without_repair": len(met_searched) / len(searched),
                         "mean_abs_distance_without_repair": statistics.mean(abs(distance(c, budget))
                                                                             for c in searched)},
            "sweep": {"share_meeting": len(met_s) / len(sweep),
                      "mean_distance": statistics.mean(distance(c, budget) for c in met_s) if met_s else None,
                      "best_distance": min(distance(c, budget) for c in met_s) if met_s else None}})
    errors = {
        "targeted": _error_summary([_stage_errors(root / name, target, provider, base) for name in targeted_runs]),
        "sweep": _error_summary([_stage_errors(root / name, target, provider, base) for name in sweep_runs])}
    result = {"benchmark": "budget", "machine": machine(torch.device("cpu")) + f", {args.workers} searches at once",
              "config": {k: base.to_dict()[k] for k in ("profile", "dataset", "epochs", "warmup_epochs", "cells",
                                                         "init_channels", "batch_size", "train_subset")},
              "floor": floor, "ceiling": ceiling, "unconstrained": reference, "lambda_range": list(args.lambda_range),
              "sweep_lambdas": lambdas, "sweep_costs": [costs[f"sweep{i:02d}"] for i in range(count)],
              "budgets": per_budget, "prediction_errors": errors, "searches": 1 + 2 * count,
              "seconds": time.perf_counter() - started, "runs": str(root)}

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    summary = "; ".join(
        f"B={entry['budget'] / 1e6:.3f}M: targeted {entry['targeted']['share_meeting']:.0%} meet, "
        f"{entry['targeted']['share_in_band']:.0%} in [0.97 B, B] "
        f"(dist {pct(entry['targeted']['mean_distance'])}; without repair "
        f"{entry['targeted']['share_meeting_without_repair']:.0%}, abs dist "
        f"{pct(entry['targeted']['mean_abs_distance_without_repair'])}), "
        f"sweep {entry['sweep']['share_meeting']:.0%} meet "
        f"(best dist {pct(entry['sweep']['best_distance'])})" for entry in per_budget)
    last = max(errors["targeted"])
    summary += (f"; {last} abs error derivation-aware {pct(errors['targeted'][last]['mean_abs_predicted_error'])} vs "
                f"14-edge {pct(errors['targeted'][last]['mean_abs_expected_error'])} (targeted), "
                f"{pct(errors['sweep'][last]['mean_abs_predicted_error'])} vs "
                f"{pct(errors['sweep'][last]['mean_abs_expected_error'])} (sweep); {result['searches']} searches in "
                f"{result['seconds'] / 60:.0f} min")
    report("budget", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
