"""A rejected candidate, kept so its verdict can be re-checked: fusing one edge's first depthwise convs.

On a search edge, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3 and dil_conv_5x5 all start with a
depthwise conv of the same (ReLU'd) input. Fused: sep 3x3 + sep 5x5 as one 5x5 depthwise conv with
channel multiplier 2 (the 3x3 kernel zero-padded), dil 3x3 + dil 5x5 likewise with dilation 2, so
the input is read once per pair. Timed: forward plus backward of the four separate convs against the
two fused ones (outputs split back by channel), stage-1 shapes (batch 64, C=16, 32x32),
channels_last, alternating over ``--rounds`` rounds in one run.

    python benchmarks/fused_depthwise.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from common import machine, report, timed_calls

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    C = args.channels
    x = torch.randn(args.batch_size, C, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
    plain = {(k, d): torch.randn(C, 1, k, k, requires_grad=True) for k in (3, 5) for d in (1, 2)}
    fused_plain = torch.randn(2 * C, 1, 5, 5, requires_grad=True)
    fused_dilated = torch.randn(2 * C, 1, 5, 5, requires_grad=True)

    def separate() -> torch.Tensor:
        outs = [F.conv2d(x, w, None, 1, d * (k // 2), d, C) for (k, d), w in plain.items()]
        return sum(out.sum() for out in outs)

    def fused() -> torch.Tensor:
        a = F.conv2d(x, fused_plain, None, 1, 2, 1, C)
        b = F.conv2d(x, fused_dilated, None, 1, 4, 2, C)
        return sum(out.sum() for out in (a[:, 0::2], a[:, 1::2], b[:, 0::2], b[:, 1::2]))

    rounds = []
    for index in range(args.rounds):
        order = ("separate", "fused") if index % 2 == 0 else ("fused", "separate")
        steps = {"separate": lambda: separate().backward(), "fused": lambda: fused().backward()}
        times = timed_calls({name: steps[name] for name in order}, args.repeats, warmup=3)
        rounds.append({name: 1000 * statistics.median(times[name]) for name in order})
    separate_ms = statistics.median(r["separate"] for r in rounds)
    fused_ms = statistics.median(r["fused"] for r in rounds)
    result = {"benchmark": "fused_depthwise", "machine": machine(torch.device("cpu")), "threads": args.threads,
              "batch_size": args.batch_size, "channels": C, "rounds": rounds, "separate_ms": separate_ms,
              "fused_ms": fused_ms, "fused_over_separate": fused_ms / separate_ms}
    report("fused_depthwise", result, f"first depthwise convs of one edge, forward+backward: separate "
           f"{separate_ms:.1f} ms, fused {fused_ms:.1f} ms ({fused_ms / separate_ms:.2f}x) [batch {args.batch_size}, "
           f"C={C}, 32x32, channels_last, {args.rounds} alternating rounds]", write=not args.no_write)


if __name__ == "__main__":
    main()
