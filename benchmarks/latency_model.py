"""How good is the latency model on this machine? Profile time, held-out accuracy, surrogate error.

For each intra-op thread count (``--threads 1,2``):

1. ``rapdarts profile`` of the CIFAR evaluation network (C=36, 20 cells, batch 1): the op table and
   the calibration on whole networks (presets and random genotypes; every third random one held
   out). Reported: the time it took, and the calibration's held-out figures.
2. Independently afterwards, ``--samples`` fresh random genotypes (another seed, never used for
   fitting) are predicted by the table and timed whole with the table's settings, interleaved:
   the shares within +-5% and +-10%, mean and mean absolute error, Kendall tau and Spearman rho,
   for the raw sum of ops timed alone and for the calibrated table. The reference network is
   timed again first, to say whether the machine drifted since the profile.

Then (``--surrogate``) the surrogate: fitted on the 1-thread table, tested on ops at widths and a
resolution it never saw (C=24 and C=48 at 32x32; C=36 at 64x64).

    python benchmarks/latency_model.py                        # 1 and 2 threads: about 12 min on 2 cores
    python benchmarks/latency_model.py --threads 1 --samples 10 --networks 9 --no-write   # smoke
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_thread_count(threads: int, args: argparse.Namespace, work: Path) -> dict:
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.latency.lookup import LatencyLookup
    from rapdarts.latency.maker import make_table
    from rapdarts.latency.table import LatencyTable
    from rapdarts.latency.validate import validate
    from rapdarts.ondevice import TimingSettings

    settings = TimingSettings(intra_threads=threads)
    path = work / f"cifar_{threads}thread.json"
    start = time.perf_counter()
    make_table(TargetNetwork(), path, settings, networks=args.networks, progress=False)
    seconds = time.perf_counter() - start
    table = LatencyTable.load(path)
    report = validate(LatencyLookup(Path(path)), TargetNetwork(), [], args.samples, seed=1)
    return {"threads": threads, "profile_seconds": seconds, "table": str(path),
            "calibration_scales": table.calibration["scales"] if table.calibration else None,
            "profile_held_out": (table.calibration or {}).get("held_out"),
            "profile_held_out_uncalibrated": (table.calibration or {}).get("held_out_uncalibrated"),
            "warnings": table.header["warnings"], "reference_drift": report["reference_drift"],
            "independent": report["agreement"], "independent_uncalibrated": report["agreement_uncalibrated"],
            "noisy_networks": sum(row["noisy"] for row in report["rows"])}


def surrogate(work: Path) -> dict:
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.data import DataShape
    from rapdarts.latency.maker import target_specs
    from rapdarts.latency.surrogate import LatencySurrogate, evaluate
    from rapdarts.latency.table import LatencyTable
    from rapdarts.ondevice import TimingSettings

    table = LatencyTable.load(work / "cifar_1thread.json")
    unseen = {}
    for target in (TargetNetwork(init_channels=24), TargetNetwork(init_channels=48),
                   TargetNetwork(DataShape(image_size=(64, 64)))):
        unseen.update({s.key(): s for s in target_specs(target) if s.key() not in table.entries})
    path = work / "unseen.json"
    profile_specs(list(unseen.values()), path, TimingSettings())
    unseen_table = LatencyTable.load(path)
    return {kind: evaluate(LatencySurrogate.fit(table, kind), unseen_table) for kind in ("powerlaw", "forest")}


def profile_specs(specs: list, path: Path, settings) -> None:
    """A table of ``specs`` alone (no target, no calibration): for the surrogate's test set."""
    from rapdarts.latency.maker import measure_overhead, measure_spec
    from rapdarts.latency.table import LatencyTable

    table = LatencyTable.empty(path, settings, 1, "float32", "benchmarks/latency_model.py")
    table.header["overhead_ms"] = measure_overhead(settings)
    for spec in specs:
        table.add(spec, measure_spec(spec, settings))
    table.header["complete"] = True
    table.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts, comma-separated")
    parser.add_argument("--samples", type=int, default=30, help="fresh random genotypes timed independently")
    parser.add_argument("--networks", type=int, default=30, help="random calibration genotypes of the profile")
    parser.add_argument("--surrogate", action="store_true", help="also test the surrogate on unseen shapes")
    parser.add_argument("--keep", metavar="DIR", help="keep the tables here")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import torch
    from common import report

    from rapdarts.ondevice import cache_sizes, device_name

    torch.set_num_threads(1)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rapdarts-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    import onnxruntime

    results = [one_thread_count(int(t), args, work) for t in args.threads.split(",")]
    out = {"benchmark": "latency_model", "machine": f"{device_name()}, caches {cache_sizes()}, ONNX Runtime "
           f"{onnxruntime.__version__}", "per_threads": results}
    if args.surrogate:
        out["surrogate"] = surrogate(work)

    def figures(stats: dict) -> str:
        return (f"{stats['within_5pct']:.0%} within 5%, {stats['within_10pct']:.0%} within 10%, mean error "
                f"{stats['mean_error']:+.1%}, abs error {stats['mean_abs_error']:.1%}, "
                f"tau {stats.get('kendall_tau', 0):.2f}, rho {stats.get('spearman_rho', 0):.2f}")

    parts = []
    for r in results:
        held = r["profile_held_out"]
        parts.append(f"{r['threads']} thread(s): profile {r['profile_seconds'] / 60:.1f} min, held-out "
                     f"{held['n'] if held else 0} " + (figures(held) if held else "-") +
                     f"; {r['independent']['n']} independent: calibrated {figures(r['independent'])}; raw "
                     f"{figures(r['independent_uncalibrated'])}; reference drift "
                     f"{r['reference_drift'] if r['reference_drift'] is None else round(r['reference_drift'], 3)}")
    if args.surrogate:
        parts.append("surrogate on unseen shapes: powerlaw MAPE "
                     f"{out['surrogate']['powerlaw']['overall']['mape']:.1%}, forest "
                     f"{out['surrogate']['forest']['overall']['mape']:.1%}")
    report("latency_model", out, "; ".join(parts), write=not args.no_write)


if __name__ == "__main__":
    main()
