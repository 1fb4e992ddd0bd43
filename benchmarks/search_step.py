"""Seconds per search step (one alpha step + one weight step) and peak memory, per P-DARTS stage,
for rapdarts and for a plain DARTS-style baseline measured in the same run.

The baseline (``darts_baseline.py``) is the search as the papers formulate it: every op computed,
``none`` as zeros, both parameter groups requiring gradients in both steps, no channels_last, no
recomputation. Each measurement runs in a fresh process (so its peak memory is its own: peak RSS
on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA), and the two sides alternate, in a
different order every round, so a machine that drifts slows both alike. Every ratio printed is
rapdarts over the baseline of this run; nothing is compared with a figure from elsewhere.

Inputs: random 32x32 images, batch 64, C=16, 10 classes. Stages 2 and 3 use the most expensive
candidate sets the search space allows (convolutions survive pruning), so they are upper bounds.

    python benchmarks/search_step.py                         # stages 1-3, 1 round: about 15 min on 2 cores
    python benchmarks/search_step.py --stages 1 --rounds 3   # the stage-1 target, 3 alternating rounds
    python benchmarks/search_step.py --stages 1 --fast-dilated --memory-budget 2.5   # the fastest settings here
    python benchmarks/search_step.py --device cuda --amp --channels-last
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = {
    1: (5, ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
            "dil_conv_5x5")),
    2: (11, ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")),
    3: (17, ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_5x5")),
}
SIDES = ("baseline", "rapdarts")


def _steps(args: argparse.Namespace, device):
    """The network's alpha and weight steps on one side, and the input layout it wants."""
    import torch

    cells, ops = STAGES[args.stage]
    candidates = tuple(ops for _ in range(14))
    torch.manual_seed(0)
    if args.side == "baseline":
        from darts_baseline import PlainSearchNetwork, PlainSteps

        steps = PlainSteps(PlainSearchNetwork(16, 10, cells, candidates).to(device))
        return steps.alpha_step, steps.weight_step, False
    from rapdarts.search.config import SearchConfig
    from rapdarts.search.optimizers import SearchOptimizers
    from rapdarts.space.supernet import SearchNetwork

    model = SearchNetwork(16, 10, cells, candidates, candidates, fast_dilated=args.fast_dilated).to(device)
    if args.memory_budget is not None:
        model.plan_recompute(args.memory_budget * 1e9, args.batch_size)
    else:
        model.set_recompute(args.recompute == "on")
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    steps = SearchOptimizers(model, SearchConfig(amp=args.amp, device=args.device, channels_last=args.channels_last))
    return (lambda x, y: steps.alpha_step(x, y)), (lambda x, y: steps.weight_step(x, y)), args.channels_last


def measure(args: argparse.Namespace) -> dict:
    """One side at one stage, in this (fresh) process."""
    import torch
    from common import peak_rss_gb, timed_calls

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    alpha_step, weight_step, channels_last = _steps(args, device)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)

    times = timed_calls({"alpha": lambda: alpha_step(x, y), "weight": lambda: weight_step(x, y)}, args.repeats,
                        args.warmup, device)
    alpha, weight = times["alpha"], times["weight"]
    memory = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else peak_rss_gb()
    return {"side": args.side, "stage": args.stage, "alpha_step_s": statistics.median(alpha),
            "weight_step_s": statistics.median(weight), "step_s": statistics.median(alpha) + statistics.median(weight),
            "peak_memory_gb": memory}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--amp", action="store_true", help="rapdarts: bfloat16 autocast")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="rapdarts: channels_last memory format")
    parser.add_argument("--recompute", choices=("on", "off"), default="on", help="rapdarts: recompute mixed ops")
    parser.add_argument("--memory-budget", type=float, help="rapdarts: GB of mixed-op activations kept for backward "
                        "(recompute the largest cells until the rest fit; overrides --recompute)")
    parser.add_argument("--fast-dilated", action="store_true",
                        help="rapdarts: stride-2 dilated convs as plain convs of the even pixels")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternating baseline/rapdarts rounds per stage")
    parser.add_argument("--stages", default="1,2,3")
    parser.add_argument("--no-baseline", action="store_true", help="time rapdarts only (no ratios)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # internal: measure one side
    parser.add_argument("--stage", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.side:
        print(json.dumps(measure(args)))
        return

    import torch
    from common import machine, report

    torch.set_num_threads(args.threads)
    passed = [a for a in sys.argv[1:] if a not in ("--no-write", "--no-baseline")]
    sides = ("rapdarts",) if args.no_baseline else SIDES
    runs: dict[tuple[int, str], list[dict]] = {}
    for round_index in range(args.rounds):
        order = sides if round_index % 2 == 0 else tuple(reversed(sides))
        for stage in map(int, args.stages.split(",")):
            for side in order:
                out = subprocess.run([sys.executable, __file__, *passed, "--side", side, "--stage", str(stage)],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"search_step: {side} stage {stage} failed:\n{out.stderr[-3000:]}")
                runs.setdefault((stage, side), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"stage {stage} {side}: {runs[(stage, side)][-1]['step_s']:.2f} s, "
                      f"{runs[(stage, side)][-1]['peak_memory_gb']:.2f} GB", file=sys.stderr)
    rows = []
    for stage in map(int, args.stages.split(",")):
        row = {"stage": stage, "cells": STAGES[stage][0], "ops": list(STAGES[stage][1])}
        for side in sides:
            measured = runs[(stage, side)]
            row[side] = {key: statistics.median(m[key] for m in measured)
                         for key in ("alpha_step_s", "weight_step_s", "step_s", "peak_memory_gb")}
            row[side]["rounds"] = measured
        if not args.no_baseline:
            row["time_ratio"] = row["rapdarts"]["step_s"] / row["baseline"]["step_s"]
            row["memory_ratio"] = row["rapdarts"]["peak_memory_gb"] / row["baseline"]["peak_memory_gb"]
        rows.append(row)
    device = torch.device(args.device)
    result = {"benchmark": "search_step", "machine": machine(device), "device": args.device,
              "batch_size": args.batch_size, "init_channels": 16, "threads": args.threads, "rounds": args.rounds,
              "rapdarts_options": {"amp": args.amp, "channels_last": args.channels_last, "recompute": args.recompute,
                                   "memory_budget_gb": args.memory_budget, "fast_dilated": args.fast_dilated},
              "memory": "cuda max allocated" if device.type == "cuda" else "peak RSS", "stages": rows}

    def describe(row: dict) -> str:
        ours = row["rapdarts"]
        text = (f"stage {row['stage']} ({row['cells']} cells/{len(row['ops'])} ops): rapdarts {ours['step_s']:.2f} s "
                f"(alpha {ours['alpha_step_s']:.2f} + weight {ours['weight_step_s']:.2f}), "
                f"{ours['peak_memory_gb']:.2f} GB")
        if "baseline" in row:
            base = row["baseline"]
            text += (f"; baseline {base['step_s']:.2f} s, {base['peak_memory_gb']:.2f} GB; "
                     f"{row['time_ratio']:.2f}x time, {row['memory_ratio']:.2f}x memory")
        return text

    summary = "; ".join(describe(row) for row in rows)
    summary += (f" [same run, {args.rounds} round(s); rapdarts amp={args.amp}, channels_last={args.channels_last}, "
                f"recompute={args.recompute}, memory_budget={args.memory_budget}, fast_dilated={args.fast_dilated}]")
    report("search_step", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
