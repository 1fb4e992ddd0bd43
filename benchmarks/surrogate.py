"""A latency predictor for this machine: profile a designed sample on a budget, choose the model, judge it on shapes
and networks the sample never contained.

1. ``rapdarts surrogate profile`` (the library function), ``--minutes`` of profiling (default 25): the
   designed sample and the calibration networks (C=16 and C=36 at batch 1 and 4).
2. ``rapdarts surrogate fit``: K-fold cross-validation of the power law, gradient boosting, the
   random forest and the boosted power law per op type; the choice.
3. Unseen op shapes, timed independently afterwards with the default timing settings (8 sessions):
   every op of the CIFAR evaluation networks at C=24 and C=48 (batch 1) and C=36 at batch 8
   (``networks``), and fresh configurations of another design seed (``design``: anywhere in the
   sampled region, a fifth of them at channel counts that are not multiples of 4); shapes the sample
   contains are left out. Reported: the shares within ±5% and ±10%, per op type and for the
   convolutions (every op type with a conv).
4. Whole networks: ``--networks`` fresh random genotypes (20 by default) at C=24 and C=48 (batch 1)
   and C=36 at batch 8, timed whole with the sample's settings, against the calibrated surrogate.

Targets (issue 20): at least 90% of unseen convolution shapes within ±10%; whole networks at
C=24, C=48 and batch 8 within ±10% for at least 95% of fresh genotypes; the profile under 30
minutes on 2 cores. ``--quick`` is a smoke run of a few minutes. ``--floor-only`` times the unseen op shapes
alone and reports the measurement floor (:mod:`rapdarts.latency.surrogate_floor`): how well those timings agree
with themselves, the best any model could do against them on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

CONV_OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "stem", "relu_conv_bn",
            "factorized_reduce")
"""The op types with a convolution (``skip_connect`` at stride 2, a factorized reduce, is counted with them)."""


def unseen_specs(sample_keys: set[str], fresh: int, quick: bool) -> dict[str, list]:
    """``{"networks": ops of the judged networks, "design": fresh configurations of another design seed}``, without
    the shapes the sample holds."""
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.latency.maker import target_specs
    from rapdarts.latency.surrogate_design import Design

    targets = [TargetNetwork(init_channels=24)] if quick else \
        [TargetNetwork(init_channels=24), TargetNetwork(init_channels=48), TargetNetwork(init_channels=36, batch=8)]
    networks = {s.key(): s for target in targets for s in target_specs(target) if s.key() not in sample_keys}
    design = {s.key(): s for s in Design(seed=101).take(fresh) if s.key() not in sample_keys | set(networks)}
    return {"networks": list(networks.values()), "design": list(design.values())}


def time_tables(groups: dict[str, list], work: Path, header: dict, settings) -> dict[str, Path]:
    """Time every group's specs together in interleaved rounds; one table per group (``unseen-GROUP.json``)."""
    from rapdarts import ondevice
    from rapdarts.latency.op_latency import op_group
    from rapdarts.latency.surrogate_sample import export_op, op_input

    specs = [s for group in groups.values() for s in group]
    timings = ondevice.time_models([(s.key(), export_op(s), op_input(s)) for s in specs], settings, seed=7)
    table_header = {**header, **settings.to_dict(), "surrogate_sample": None, "complete": True,
                    "created_by": "benchmarks/surrogate.py (unseen shapes)"}
    paths = {}
    for name, group in groups.items():
        entries = {s.key(): {"spec": s.to_dict(), "group": op_group(s), **timings[s.key()].to_dict()} for s in group}
        paths[name] = work / f"unseen-{name}.json"
        ondevice.write_table(paths[name], table_header, entries)
    return paths


def conv_share(by_op: dict, keys: tuple[str, ...] = ("within_5pct", "within_10pct", "mape")) -> dict:
    """Shares within ±5%/±10% over the convolution op types (weighted by their counts)."""
    rows = [(stats, stats["n"]) for op, stats in by_op.items() if op in CONV_OPS and stats["n"]]
    n = sum(count for _, count in rows)
    return {"n": n, **{key: sum(stats[key] * count for stats, count in rows) / max(n, 1) for key in keys}}


FLOOR_KEYS = ("halves_within_10pct", "ceiling_within_5pct", "ceiling_within_10pct")


def floor_only(args, work: Path) -> None:
    """``--floor-only``: time the unseen op shapes (no profile, no model) and report how well the timings agree
    with themselves: the best share within ±10% any model could reach against them on this machine."""
    import numpy as np
    import onnxruntime
    from common import log_progress, report

    from rapdarts import ondevice
    from rapdarts.latency.surrogate_floor import measurement_floor, split_differences
    from rapdarts.latency.table import LatencyTable

    log_progress()
    header = ondevice.table_header(ondevice.TimingSettings(), 1, "float32", 0, "benchmarks/surrogate.py --floor-only")
    start = time.monotonic()
    tables = time_tables(unseen_specs(set(), args.fresh, args.quick), work, header, ondevice.TimingSettings())
    out = {"benchmark": "surrogate --floor-only", "machine": f"{ondevice.device_name()}, {ondevice.cache_sizes()}, "
           f"ONNX Runtime {onnxruntime.__version__}, 1 intra-op thread", "seconds": time.monotonic() - start,
           "groups": {}}
    for name, path in tables.items():
        entries = list(LatencyTable.load(path).entries.values())
        differences = split_differences(entries)
        floor = measurement_floor(differences, [e["spec"]["op"] for e in entries])
        out["groups"][name] = {"floor": floor, "convolutions": conv_share(floor["by_op"], FLOOR_KEYS),
                               "median_latency_ms": float(np.median([e["latency_ms"] for e in entries]))}
    parts = [f"{name} ops: halves agree within 10% for {g['floor']['overall']['halves_within_10pct']:.0%}; an exact "
             f"model would put {g['convolutions']['ceiling_within_10pct']:.0%} of the convolutions within 10% "
             f"({g['convolutions']['ceiling_within_5pct']:.0%} within 5%, n={g['convolutions']['n']}), all ops "
             f"{g['floor']['overall']['ceiling_within_10pct']:.0%}" for name, g in out["groups"].items()]
    report("surrogate", out, "; ".join(parts), write=not args.no_write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=25.0, help="profiling budget of the sample")
    parser.add_argument("--networks", type=int, default=20, help="fresh random genotypes per judged network shape")
    parser.add_argument("--fresh", type=int, default=120, help="fresh configurations (another design seed) to time")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2-minute profile, few shapes and networks")
    parser.add_argument("--keep", metavar="DIR", help="keep the sample, the model and the tables here (a kept sample "
                        "is continued, not profiled again)")
    parser.add_argument("--no-write", action="store_true", help="print the JSON only; no RESULTS.md row")
    parser.add_argument("--floor-only", action="store_true", help="only time the unseen op shapes and report how "
                        "well their timings agree with themselves (no profile, no model; a few minutes)")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.networks, args.fresh = min(args.minutes, 2.0), min(args.networks, 3), min(args.fresh, 20)
    if args.floor_only:
        work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rapdarts-floor-"))
        work.mkdir(parents=True, exist_ok=True)
        floor_only(args, work)
        return

    import onnxruntime
    import torch
    from common import log_progress, report

    from rapdarts import ondevice
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.latency.surrogate import LatencySurrogate, evaluate
    from rapdarts.latency.surrogate_networks import judge_networks
    from rapdarts.latency.surrogate_sample import SAMPLE_SESSIONS, profile_sample
    from rapdarts.latency.table import LatencyTable

    torch.set_num_threads(1)
    log_progress()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rapdarts-surrogate-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = ondevice.TimingSettings(sessions=SAMPLE_SESSIONS)
    out = {"benchmark": "surrogate", "machine": f"{ondevice.device_name()}, {ondevice.cache_sizes()}, ONNX Runtime "
           f"{onnxruntime.__version__}, 1 intra-op thread", "minutes_budget": args.minutes}

    start = time.monotonic()
    out["profile"] = profile_sample(work / "sample.json", settings, args.minutes, networks=2 if args.quick else 4,
                                    progress=True)
    out["profile"]["wall_minutes"] = (time.monotonic() - start) / 60
    sample = LatencyTable.load(work / "sample.json")

    start = time.monotonic()
    surrogate = LatencySurrogate.fit(sample)
    surrogate.save(work / "model.json")
    selection = surrogate.selection
    out["fit"] = {"seconds": time.monotonic() - start, "choice": selection["choice"], "mode": selection["mode"],
                  "overall_kind": selection["overall_kind"], "cv_overall": selection["cv_overall"],
                  "cv": selection["cv"], "chosen_cv": selection["chosen_cv"], "calibration": {
                      k: v for k, v in (surrogate.calibration or {}).items() if k != "networks"}}

    start = time.monotonic()
    tables = time_tables(unseen_specs(set(sample.entries), args.fresh, args.quick), work, sample.header,
                         ondevice.TimingSettings())
    out["unseen_ops"] = {"seconds": time.monotonic() - start}
    for name, path in tables.items():
        ops = evaluate(surrogate, LatencyTable.load(path))
        out["unseen_ops"][name] = {"report": ops, "convolutions": conv_share(ops["by_op"]),
                                   "floor": conv_share(ops["measurement_floor"]["by_op"], FLOOR_KEYS)}

    shapes = [("C=24", TargetNetwork(init_channels=24)), ("C=48", TargetNetwork(init_channels=48)),
              ("C=36 batch 8", TargetNetwork(init_channels=36, batch=8))]
    big = replace(ondevice.TimingSettings(), sessions=6, repeats=10, warmup=2, block=5)
    out["networks"] = {}
    for label, target in shapes[:1] if args.quick else shapes:
        start = time.monotonic()
        judged = judge_networks(surrogate, target, args.networks, seed=1, settings=big if target.batch > 1 else None)
        out["networks"][label] = {"seconds": time.monotonic() - start, "agreement": judged["agreement"],
                                  "agreement_uncalibrated": judged["agreement_uncalibrated"],
                                  "agreement_alone": judged["agreement_alone"],
                                  "reference": judged["reference"],
                                  "agreement_drift_corrected": judged["agreement_drift_corrected"],
                                  "settings": judged["settings"],
                                  "rows": [{k: v for k, v in row.items() if k != "genotype"} for row in judged["rows"]]}

    cal, cv = surrogate.calibration, selection["cv_overall"]
    unseen = out["unseen_ops"]
    parts = [f"profile {out['profile']['samples']} configurations + {out['profile']['networks']} networks in "
             f"{out['profile']['wall_minutes']:.1f} min ({out['profile']['adaptive_rounds']} adaptive rounds)",
             "CV within 10%: " + ", ".join(f"{kind} {s['within_10pct']:.0%}" for kind, s in cv.items())
             + f"; kept {selection['mode']} ({selection['overall_kind']})",
             *(f"unseen {name} conv shapes {r['convolutions']['within_10pct']:.0%} within 10% "
               f"({r['convolutions']['within_5pct']:.0%} within 5%, n={r['convolutions']['n']}), all ops "
               f"{r['report']['overall']['within_10pct']:.0%} (n={r['report']['overall']['n']}; an exact model: "
               f"{r['floor']['ceiling_within_10pct']:.0%} of the conv shapes)"
               for name, r in unseen.items() if name != "seconds"),
             ("calibration held-out %.0f%% within 10%%" % (100 * cal["held_out"]["within_10pct"])) if cal
             else "uncalibrated"]
    if cal and cal.get("unseen_shape"):
        unseen_shape = cal["unseen_shape"]
        parts.append("a calibration shape left out of the fit: scales %.0f%% within 10%% (mean |error| %.1f%%), "
                     "sums of ops %.0f%% (%.1f%%); calibration %s"
                     % (100 * unseen_shape["agreement"]["within_10pct"],
                        100 * unseen_shape["agreement"]["mean_abs_error"],
                        100 * unseen_shape["uncalibrated"]["within_10pct"],
                        100 * unseen_shape["uncalibrated"]["mean_abs_error"],
                        "applied" if cal["applied"] else "not applied"))
    if out["profile"]["reference"]:
        parts.append("reference network's chunks during the profile %.2fx-%.2fx its profile latency"
                     % (out["profile"]["reference"]["fastest_chunk"], out["profile"]["reference"]["slowest_chunk"]))
    if surrogate.context is not None:
        parts.append(f"{surrogate.context.summary()['chains']} chains timed for the in-context ratio")
    parts += [f"{label}: {r['agreement']['within_10pct']:.0%} within 10%, {r['agreement']['within_5pct']:.0%} within "
              f"5%, mean {r['agreement']['mean_error']:+.1%} (n={r['agreement']['n']}; sums of ops alone "
              f"{r['agreement_alone']['within_10pct']:.0%}, mean {r['agreement_alone']['mean_error']:+.1%})"
              + _drift_part(r) for label, r in out["networks"].items()]
    report("surrogate", out, "; ".join(parts), write=not args.no_write)


def _drift_part(result: dict) -> str:
    """The reference network's drift since the profile, and the agreement with the prediction scaled by it."""
    drift, corrected = result["reference"]["drift"], result["agreement_drift_corrected"]
    if drift is None:
        return ""
    where = {True: " (outside its range while profiling)", False: " (inside its range while profiling)",
             None: ""}[result["reference"].get("beyond_profile_range")]
    return (f", reference drift {drift:.3f}{where}, drift corrected {corrected['within_10pct']:.0%} within 10%, "
            f"{corrected['within_5pct']:.0%} within 5%, mean {corrected['mean_error']:+.1%}")


if __name__ == "__main__":
    main()
