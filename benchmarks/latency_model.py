"""How good is the latency model? Profile time, surrogate error, and whole-network additivity.

1. Profile the op table of the CIFAR evaluation network (C=36, 20 cells, batch 1) on this machine.
2. Fit the surrogate on it and test on a second table profiled at widths and a resolution it never
   saw (C=24 and C=48 at 32x32; C=36 at 64x64): MAPE and share within +-10%, per op type.
3. validate-latency: the three presets and N random genotypes, predicted (sum of table entries)
   vs measured (whole network exported to ONNX), then with the calibration fitted on half of
   them and judged on the other half.

    python benchmarks/latency_model.py [--samples 50] [--threads 1] [--optimization all]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=50, help="random architectures to measure")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--optimization", default="all")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="keep tables and the validation report here")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import torch
    from common import report

    from rapdarts.costs.target import TargetNetwork
    from rapdarts.data import DataShape
    from rapdarts.deploy.ondevice import TimingSettings, device_name
    from rapdarts.latency.profile import profile, target_specs
    from rapdarts.latency.surrogate import LatencySurrogate, evaluate
    from rapdarts.latency.table import LatencyTable
    from rapdarts.latency.validate import plot_validation, validate
    from rapdarts.space.genotype import preset, preset_names

    torch.set_num_threads(1)
    settings = TimingSettings(intra_threads=args.threads, optimization=args.optimization, repeats=args.repeats,
                              sessions=args.sessions)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rapdarts-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    cifar = TargetNetwork()

    start = time.perf_counter()
    specs = target_specs(cifar)
    main_table = profile(specs, work / "cifar_c36.json", settings, progress=False)
    profile_seconds = time.perf_counter() - start

    unseen_specs = []
    for target in (TargetNetwork(init_channels=24), TargetNetwork(init_channels=48),
                   TargetNetwork(DataShape(image_size=(64, 64)))):
        unseen_specs.extend(target_specs(target))
    unique = {s.key(): s for s in unseen_specs if s.key() not in LatencyTable.load(main_table).entries}
    profile(list(unique.values()), work / "unseen.json", settings, progress=False)
    table, unseen = LatencyTable.load(main_table), LatencyTable.load(work / "unseen.json")
    surrogate = {}
    for kind in ("powerlaw", "forest"):
        errors = evaluate(LatencySurrogate.fit(table, kind), unseen)
        surrogate[kind] = errors

    genotypes = [(name, preset(name)) for name in preset_names()]
    plain = validate(table, cifar, genotypes, args.samples, seed=0, calibrate=False, progress=False)
    calibrated = validate(LatencyTable.load(main_table), cifar, genotypes, args.samples, seed=0, calibrate=True,
                          progress=False)
    plot_validation(calibrated, work / "latency_scatter.png")

    result = {
        "benchmark": "latency_model", "machine": f"{device_name()}, ONNX Runtime {table.header['onnxruntime']}",
        "settings": settings.to_dict(), "profile": {"ops": len(specs), "seconds": profile_seconds,
                                                    "overhead_ms": table.header["overhead_ms"]},
        "surrogate_unseen": {kind: {"n": r["overall"]["n"], "mape": r["overall"]["mape"],
                                    "within_10pct": r["overall"]["within_10pct"], "by_op": r["by_op"]}
                             for kind, r in surrogate.items()},
        "additivity_all": plain["uncorrected"],
        "held_out_uncorrected": calibrated["held_out_uncorrected"],
        "held_out_corrected": calibrated["held_out_corrected"],
        "correction": calibrated["correction"]["scale"], "work_dir": str(work),
    }
    a, h0, h1 = plain["uncorrected"], calibrated["held_out_uncorrected"], calibrated["held_out_corrected"]
    summary = (f"profile {len(specs)} ops in {profile_seconds:.0f}s (overhead {table.header['overhead_ms']:.4f} ms); "
               f"surrogate on {surrogate['powerlaw']['overall']['n']} unseen ops: powerlaw MAPE "
               f"{surrogate['powerlaw']['overall']['mape']:.1%} "
               f"({surrogate['powerlaw']['overall']['within_10pct']:.0%} "
               f"within 10%), forest MAPE {surrogate['forest']['overall']['mape']:.1%}; additivity on {a['n']} "
               f"networks: r {a.get('pearson_r', float('nan')):.3f}, tau {a.get('kendall_tau', float('nan')):.3f}, "
               f"mean error {a['mean_error']:+.1%}, {a['within_10pct']:.0%} within 10%; held-out ({h1['n']}) "
               f"before/after calibration: mean error {h0['mean_error']:+.1%} / {h1['mean_error']:+.1%}, within 10% "
               f"{h0['within_10pct']:.0%} / {h1['within_10pct']:.0%} [{settings.intra_threads} thread, "
               f"optimisation {settings.optimization}]")
    report("latency_model", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
