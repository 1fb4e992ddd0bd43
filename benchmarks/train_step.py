"""Training throughput (images/s) of the evaluation network, and a short real training run on CIFAR-10.

Throughput mode (default): for each preset (DARTS_V1, DARTS_V2, PDARTS) the published evaluation
network (C=36, 20 cells, auxiliary head on, drop path 0.15: its mid-training value) takes full
training steps (forward, backward, gradient clip, SGD with momentum: ``rapdarts.train.step``, the
code ``rapdarts train`` runs) on random 32x32 batches. Median step time over ``--repeats`` steps
after ``--warmup``; images/s = batch / median. Batch 64 by default, chosen to fit a 24 GB CPU machine
next to other work (activations take about 0.11 GB per image on the CPU, measured at batch 8);
``--batch-size 128`` gives the P-DARTS batch (DARTS: 96).

    python benchmarks/train_step.py                                   # CPU, 2 threads
    python benchmarks/train_step.py --device cuda --amp --channels-last --batch-size 128

CIFAR subset mode (``--cifar-subset-run``): trains PDARTS at reduced width (C=16, 8 cells, batch
64) for 3 epochs on the real CIFAR-10 subset (10,000 training / 2,000 test images, ImageFolder
layout) through ``rapdarts.train`` with every published ingredient (auxiliary head, cutout, drop
path, cosine schedule), and records the test accuracy: a sanity figure (a few minutes on 2 CPU
cores), not a replication of the paper's 97.5%.

    python benchmarks/train_step.py --cifar-subset-run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import CIFAR_SUBSET  # noqa: E402

PRESETS = ("DARTS_V1", "DARTS_V2", "PDARTS")


def measure_preset(name: str, args: argparse.Namespace) -> dict:
    """Median seconds of one training step of ``name``'s evaluation network, and images/s."""
    import torch
    from common import timed_calls

    from rapdarts.space.genotype import preset
    from rapdarts.space.network import EvalNetwork, count_parameters
    from rapdarts.train.config import TrainConfig
    from rapdarts.train.step import TrainingStep

    device = torch.device(args.device)
    paper = TrainConfig()
    torch.manual_seed(0)
    model = EvalNetwork(preset(name), args.channels, 10, args.layers, auxiliary=True).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.drop_path_prob = paper.drop_path_prob / 2
    steps = TrainingStep(model, paper.lr, paper.momentum, paper.weight_decay, paper.grad_clip, paper.auxiliary_weight,
                         amp=args.amp)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = timed_calls({"step": lambda: steps.step(x, y)}, args.repeats, args.warmup, device)["step"]
    step = statistics.median(times)
    row = {"preset": name, "params": count_parameters(model).without_auxiliary, "step_s": step,
           "step_s_all": times, "images_per_s": args.batch_size / step}
    if device.type == "cuda":
        row["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    return row


def throughput(args: argparse.Namespace) -> tuple[dict, str]:
    import torch
    from common import machine, peak_rss_gb

    rows = [measure_preset(name, args) for name in args.presets.split(",")]
    result = {"benchmark": "train_step", "machine": machine(torch.device(args.device)), "device": args.device,
              "peak_rss_gb": peak_rss_gb(),
              "batch_size": args.batch_size, "init_channels": args.channels, "layers": args.layers, "amp": args.amp,
              "channels_last": args.channels_last, "auxiliary": True, "presets": rows}
    summary = "; ".join(f"{r['preset']} ({r['params'] / 1e6:.2f}M): {r['images_per_s']:.1f} img/s "
                        f"({r['step_s']:.3f} s/step)" for r in rows)
    summary += (f" [C={args.channels}, {args.layers} cells, batch {args.batch_size}, aux on, amp={args.amp}, "
                f"channels_last={args.channels_last}]")
    return result, summary


def cifar_subset_run(args: argparse.Namespace) -> tuple[dict, str]:
    import torch
    from common import machine

    from rapdarts.api import train
    from rapdarts.space.genotype import preset
    from rapdarts.train.config import TrainConfig

    if not (Path(args.data_dir) / "train").is_dir():
        raise SystemExit(f"CIFAR-10 subset not found in {args.data_dir} (expected train/ and test/ folders)")
    config = TrainConfig(profile="cpu").updated({
        "dataset": "imagefolder", "data_dir": args.data_dir, "image_size": 32, "init_channels": args.subset_channels,
        "layers": args.subset_layers, "batch_size": args.batch_size, "epochs": args.epochs,
        "train_subset": args.train_subset, "device": args.device, "threads": args.threads, "amp": args.amp,
        "channels_last": args.channels_last, "report_costs": ("params", "flops"), "seed": args.seed,
    }, "benchmark")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = train(config, preset("PDARTS"), run_dir=args.run_dir or Path(scratch) / "run",
                       genotype_source="PDARTS", show_progress=False)
        dataset = json.loads((result.run_dir / "environment.json").read_text())["dataset"]
    seconds = time.perf_counter() - started
    report = result.report
    out = {"benchmark": "train_step --cifar-subset-run", "machine": machine(torch.device(args.device)),
           "config": config.to_dict(), "test_accuracy": report["test"]["accuracy"],
           "test_images": report["test"]["images"], "params": report["parameters"]["without_auxiliary"],
           "train_seconds": report["train_seconds"], "total_seconds": seconds,
           "epochs": [{k: row[k] for k in ("epoch", "train_acc", "test_acc", "seconds")} for row in result.metrics]}
    summary = (f"PDARTS C={args.subset_channels}, {args.subset_layers} cells ({out['params']:,} params), "
               f"{args.epochs} epochs on the CIFAR-10 subset ({dataset['train_images']:,} train images): test "
               f"accuracy {100 * out['test_accuracy']:.2f}% on {out['test_images']:,} test images, "
               f"{seconds / 60:.1f} min total")
    return out, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--channels", type=int, default=36, help="C of the throughput networks")
    parser.add_argument("--layers", type=int, default=20, help="cells of the throughput networks")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cifar-subset-run", action="store_true", help="train on the CIFAR-10 subset instead")
    parser.add_argument("--data-dir", default=str(CIFAR_SUBSET), help="CIFAR-10 subset (ImageFolder layout)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the subset run")
    parser.add_argument("--subset-channels", type=int, default=16, help="C of the subset run")
    parser.add_argument("--subset-layers", type=int, default=8, help="cells of the subset run")
    parser.add_argument("--train-subset", type=int, default=None, help="training images of the subset run (all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", help="keep the subset run's directory here")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    import torch
    from common import report

    torch.set_num_threads(args.threads)
    if args.amp and args.device == "cpu":
        raise SystemExit("--amp needs --device cuda")
    name = "train_step"
    result, summary = cifar_subset_run(args) if args.cifar_subset_run else throughput(args)
    report(name, result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
