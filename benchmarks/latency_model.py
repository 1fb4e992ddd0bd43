"""How good is the latency model on this machine? Profile, repeatability of the stopwatch, independent accuracy.

For every network size (``--sizes``, CIFAR input, batch 1) and every table variant (``--variants``,
``PRECISION-THREADS``: ``fp32-1``, ``fp32-2``, ``int8-1``):

1. ``rapdarts profile`` of that evaluation network: the op table, the calibration on whole networks
   (presets, single-op networks and random genotypes; every third random one held out) and the
   noise floor. Reported: the time it took, the held-out figures, the floor.
2. Repeatability: ``--repeat-networks`` fresh random genotypes timed whole in two independent calls
   (interleaved rounds each, minutes apart): the share of networks whose two estimates agree within
   3% (the target: 19 of 20), and the largest disagreement.
3. Independently, ``--samples`` fresh random genotypes (never used for fitting) predicted by the
   table and timed whole with its settings (``validate-latency``): the shares within 5% and 10%, mean
   and mean absolute error, rank correlations, and the noise floor of that timing.

int8 tables are calibrated on ``--calibration-images`` (the CIFAR-10 subset by default).

    python benchmarks/latency_model.py                      # 36x20 and 16x8 cells, fp32 1 and 2 threads, int8
    python benchmarks/latency_model.py --sizes 16x8 --variants fp32-1 --samples 10 --networks 9 --no-write
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CIFAR_SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset"


def repeatability(target, settings, count: int, calibration: str | None, reference) -> dict:
    """Two independent timings of the same fresh networks: how often the estimates agree within 3%.

    The table's reference network is timed in the same rounds of both calls, so a disagreement can be
    told apart: if the reference moved as much as the networks, the machine changed between the calls
    (nothing a statistic can remove); if it did not, the statistic itself is noisy. The signed
    differences and the agreement after dividing by the reference's own move are reported beside the
    plain agreement, which is what the target is judged on."""
    import random

    from rapdarts.latency.networks import measure_with_floor
    from rapdarts.space.genotype import varied_genotype

    rng = random.Random(2)
    networks = [(f"repeat-{i}", varied_genotype(rng, i)) for i in range(count)]
    first, first_floor = measure_with_floor(networks, target, settings, reference, seed=10, calibration=calibration)
    second, second_floor = measure_with_floor(networks, target, settings, reference, seed=11, calibration=calibration)
    reference_move = second_floor["latency_ms"] / first_floor["latency_ms"]
    signed = [second[name].latency_ms / first[name].latency_ms - 1 for name, _ in networks]
    normalised = [(1 + d) / reference_move - 1 for d in signed]
    return {"networks": count, "within_3pct": sum(abs(d) <= 0.03 for d in signed),
            "max_difference": max(abs(d) for d in signed), "differences": signed,
            "reference_move": reference_move,
            "within_3pct_reference_normalised": sum(abs(d) <= 0.03 for d in normalised),
            "floors": [first_floor, second_floor]}


def one_table(size: str, variant: str, args: argparse.Namespace, work: Path) -> dict:
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.latency.lookup import LatencyLookup
    from rapdarts.latency.maker import make_table
    from rapdarts.latency.table import LatencyTable
    from rapdarts.latency.validate import validate
    from rapdarts.ondevice import TimingSettings

    channels, cells = (int(part) for part in size.split("x"))
    precision, threads = variant.split("-")
    target = TargetNetwork(init_channels=channels, cells=cells)
    settings = TimingSettings(intra_threads=int(threads), precision=precision)
    calibration = args.calibration_images if precision == "int8" else None
    path = work / f"C{channels}x{cells}_{variant}.json"
    start = time.perf_counter()
    make_table(target, path, settings, networks=args.networks, progress=False, calibration=calibration)
    seconds = time.perf_counter() - start
    table = LatencyTable.load(path)
    measured = dataclasses.replace(table.settings, sessions=max(table.settings.sessions, 10))
    repeats = repeatability(target, measured, args.repeat_networks, calibration, table.reference_genotype())
    report = validate(LatencyLookup(Path(path)), target, [], args.samples, seed=1)
    return {"size": size, "variant": variant, "profile_seconds": seconds, "table": str(path),
            "profile_held_out": (table.calibration or {}).get("held_out"),
            "profile_noise_floor": table.header.get("noise_floor"), "warnings": table.header["warnings"],
            "repeatability": repeats, "reference_drift": report["reference_drift"],
            "independent": report["agreement"], "independent_uncalibrated": report["agreement_uncalibrated"],
            "validation_noise_floor": report["noise_floor"],
            "noisy_networks": sum(row["noisy"] for row in report["rows"])}


def _figures(stats: dict) -> str:
    return (f"{stats['within_5pct']:.0%} within 5%, {stats['within_10pct']:.0%} within 10%, mean error "
            f"{stats['mean_error']:+.1%}, |error| {stats['mean_abs_error']:.1%}, tau {stats.get('kendall_tau', 0):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="36x20,16x8", help="evaluation networks CxCELLS, comma-separated")
    parser.add_argument("--variants", default="fp32-1,fp32-2,int8-1",
                        help="PRECISION-THREADS tables, comma-separated (applied to the first size; the others fp32-1)")
    parser.add_argument("--samples", type=int, default=30, help="fresh random genotypes timed independently")
    parser.add_argument("--networks", type=int, default=30, help="random calibration genotypes of the profile")
    parser.add_argument("--repeat-networks", type=int, default=10, help="networks timed twice (repeatability)")
    parser.add_argument("--calibration-images", default=f"imagefolder:{CIFAR_SUBSET}",
                        help="real images int8 tables are calibrated on")
    parser.add_argument("--keep", metavar="DIR", help="keep the tables here")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import onnxruntime
    import torch
    from common import report

    from rapdarts.ondevice import cache_sizes, device_name

    torch.set_num_threads(1)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rapdarts-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = args.sizes.split(",")
    jobs = [(sizes[0], variant) for variant in args.variants.split(",")] + [(size, "fp32-1") for size in sizes[1:]]
    results = [one_table(size, variant, args, work) for size, variant in jobs]
    out = {"benchmark": "latency_model", "machine": f"{device_name()}, caches {cache_sizes()}, ONNX Runtime "
           f"{onnxruntime.__version__}", "tables": results}
    parts = []
    for r in results:
        held, floor, repeats = r["profile_held_out"], r["validation_noise_floor"], r["repeatability"]
        parts.append(f"C={r['size']} {r['variant']}: profile {r['profile_seconds'] / 60:.1f} min, held-out "
                     f"{held['n'] if held else 0} " + (_figures(held) if held else "-") +
                     f"; repeatability {repeats['within_3pct']}/{repeats['networks']} within 3% (max "
                     f"{repeats['max_difference']:.1%}; reference moved {repeats['reference_move'] - 1:+.1%} "
                     f"between the calls, "
                     f"{repeats['within_3pct_reference_normalised']}/{repeats['networks']} within 3% divided by "
                     f"it); {r['independent']['n']} independent: "
                     f"{_figures(r['independent'])} (raw sum {_figures(r['independent_uncalibrated'])}); noise "
                     f"floor sd {floor['sd']:.1%}, worst {floor['worst_spread']:.1%}")
    report("latency_model", out, "; ".join(parts), write=not args.no_write)


if __name__ == "__main__":
    main()
