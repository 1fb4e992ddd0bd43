"""Seconds per search step (one alpha step + one weight step) and peak memory, per P-DARTS stage.

Each stage configuration runs in a fresh process so that its peak memory is its own: peak RSS on
the CPU, ``torch.cuda.max_memory_allocated`` on CUDA. Inputs are random 32x32 images at batch 64
and C=16 (the configuration of the reference measurement in ``shared/reference/pdarts-facts.md``).

The candidate ops of stages 2 and 3 are the most expensive ones the search space allows (convs
survive pruning), so these are upper bounds for those stages.

    python benchmarks/search_step.py [--device cuda] [--amp] [--no-channels-last] [--recompute off]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = {
    1: (5, ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
            "dil_conv_5x5")),
    2: (11, ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")),
    3: (17, ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_5x5")),
}
# The original P-DARTS code on this machine kind, 2 threads (shared/reference/pdarts-facts.md).
REFERENCE = {1: (13.0, 14.0, 8.0), 2: (22.0, 23.0, 13.5), 3: (15.0, 14.0, 12.8)}


def measure_stage(args: argparse.Namespace) -> dict:
    import torch
    from common import peak_rss_gb

    from rapdarts.search.config import SearchConfig
    from rapdarts.search.optimizers import SearchOptimizers
    from rapdarts.space.supernet import SearchNetwork

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cells, ops = STAGES[args.stage]
    candidates = tuple(ops for _ in range(14))
    torch.manual_seed(0)
    model = SearchNetwork(16, 10, cells, candidates, candidates).to(device)
    model.set_recompute(args.recompute == "on")
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    config = SearchConfig(amp=args.amp, device=args.device)
    steps = SearchOptimizers(model, config)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)

    def timed(function) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    alpha, weight = [], []
    for repeat in range(args.warmup + args.repeats):
        a, w = timed(steps.alpha_step), timed(steps.weight_step)
        if repeat >= args.warmup:
            alpha.append(a)
            weight.append(w)
    memory = (torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else peak_rss_gb())
    return {"stage": args.stage, "cells": cells, "ops": list(ops), "alpha_step_s": statistics.median(alpha),
            "weight_step_s": statistics.median(weight), "step_s": statistics.median(alpha) + statistics.median(weight),
            "peak_memory_gb": memory, "memory_kind": "cuda max allocated" if device.type == "cuda" else "peak RSS"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--recompute", choices=("on", "off"), default="on")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", default="1,2,3")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--stage", type=int, help=argparse.SUPPRESS)  # internal: measure one stage
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(measure_stage(args)))
        return

    import torch
    from common import machine, report

    torch.set_num_threads(args.threads)
    child_args = [a for a in sys.argv[1:] if a != "--no-write"]
    rows = []
    for stage in map(int, args.stages.split(",")):
        out = subprocess.run([sys.executable, __file__, *child_args, "--stage", str(stage)], capture_output=True,
                             text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        if args.device == "cpu" and args.threads == 2 and args.batch_size == 64:
            ref_weight, ref_alpha, ref_memory = REFERENCE[stage]
            row["vs_reference"] = {"time_ratio": row["step_s"] / (ref_weight + ref_alpha),
                                   "memory_ratio": row["peak_memory_gb"] / ref_memory}
        rows.append(row)
    result = {"benchmark": "search_step", "machine": machine(torch.device(args.device)), "device": args.device,
              "batch_size": args.batch_size, "init_channels": 16, "amp": args.amp,
              "channels_last": args.channels_last, "recompute": args.recompute, "stages": rows}
    summary = "; ".join(
        f"stage {r['stage']} ({r['cells']} cells/{len(r['ops'])} ops): alpha {r['alpha_step_s']:.2f}s + weight "
        f"{r['weight_step_s']:.2f}s, {r['peak_memory_gb']:.2f} GB"
        + (f" ({r['vs_reference']['time_ratio']:.2f}x time, {r['vs_reference']['memory_ratio']:.2f}x memory of "
           "the original)" if "vs_reference" in r else "")
        for r in rows)
    summary += f" [amp={args.amp}, channels_last={args.channels_last}, recompute={args.recompute}]"
    report("search_step", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
