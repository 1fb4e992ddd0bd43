"""Data-parallel scaling: search-step and training throughput with 1 and N processes under torchrun.

Each measurement is a real job, ``python -m torch.distributed.run --nproc-per-node N`` running this
script's worker, which takes the same steps as ``rapdarts search``/``train`` (the global batch split
across processes, gradients summed with one all-reduce per step, gloo on the CPU, NCCL on GPUs).
Throughput is global images per second of the median step after a warm-up. The 1- and N-process
jobs alternate over ``--rounds`` rounds in one run, and the speedup is the ratio of their medians
from this run.

    python benchmarks/scaling.py                                   # CPU: 1 vs 2 processes, one thread each
    python benchmarks/scaling.py --device cuda --processes 1,2,4,8 # GPUs: one per process (NCCL)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def worker(args: argparse.Namespace) -> None:
    """One rank: build the network, take warm-up and timed steps on its shard, rank 0 prints the timings."""
    import torch
    from common import timed_calls

    from rapdarts.runtime import distributed

    job = distributed.cluster(args.device)
    torch.set_num_threads(args.threads)
    device = torch.device(distributed.rank_device(args.device))
    torch.manual_seed(0)
    part = job.shard(args.batch_size)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)[part].contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)[part]
    share = len(y) / args.batch_size
    if args.kind == "search":
        from rapdarts.search.config import SearchConfig
        from rapdarts.search.optimizers import SearchOptimizers
        from rapdarts.space.ops import primitives
        from rapdarts.space.supernet import SearchNetwork

        candidates = tuple(primitives() for _ in range(14))
        model = SearchNetwork(args.channels, 10, args.cells, candidates, candidates).to(device)
        model = model.to(memory_format=torch.channels_last)
        steps = SearchOptimizers(model, SearchConfig(device=args.device))

        def step() -> None:
            steps.alpha_step(x, y, share)
            steps.weight_step(x, y, share)
    else:
        from rapdarts.space.genotype import preset
        from rapdarts.space.network import EvalNetwork
        from rapdarts.train.step import TrainingStep

        model = EvalNetwork(preset("PDARTS"), args.channels, 10, args.cells, auxiliary=True).to(device)
        model = model.to(memory_format=torch.channels_last)
        training = TrainingStep(model, 0.025, 0.9, 3e-4, 5.0, 0.4)

        def step() -> None:
            training.step(x, y, share)

    times = timed_calls({"step": step}, args.steps, args.warmup, device, before=distributed.barrier)["step"]
    mine = [0.0] * job.world_size
    mine[job.rank] = statistics.median(times)
    slowest = distributed.sum_values(mine)  # every rank's median step; the job runs at the slowest
    if job.main:
        print(json.dumps({"processes": job.world_size, "step_s": max(slowest),
                          "images_per_s": args.batch_size / max(slowest)}))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", default="1,2", help="process counts to compare (the first is the base)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--kinds", default="search,train")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--search-channels", type=int, default=8)
    parser.add_argument("--search-cells", type=int, default=5)
    parser.add_argument("--train-channels", type=int, default=16)
    parser.add_argument("--train-cells", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--channels", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.worker:
        worker(args)
        return
    import torch
    from common import machine, report

    counts = [int(n) for n in args.processes.split(",")]
    results: dict[str, dict[int, list[dict]]] = {}
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
                   "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for round_index in range(args.rounds):
        for kind in args.kinds.split(","):
            channels = args.search_channels if kind == "search" else args.train_channels
            cells = args.search_cells if kind == "search" else args.train_cells
            for count in counts if round_index % 2 == 0 else list(reversed(counts)):
                command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={count}", __file__, "--worker", "--kind", kind, "--device", args.device,
                           "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--channels",
                           str(channels), "--cells", str(cells), "--warmup", str(args.warmup), "--steps",
                           str(args.steps)]
                done = subprocess.run(command, capture_output=True, text=True, env=environment)
                if done.returncode != 0:
                    sys.exit(f"scaling: {kind} with {count} processes failed:\n{done.stderr[-3000:]}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                results.setdefault(kind, {}).setdefault(count, []).append(row)
                print(f"{kind} x{count}: {row['images_per_s']:.1f} images/s", file=sys.stderr)
    summary_rows = {}
    for kind, by_count in results.items():
        base = statistics.median(r["images_per_s"] for r in by_count[counts[0]])
        summary_rows[kind] = {count: {"images_per_s": statistics.median(r["images_per_s"] for r in rows),
                                      "speedup": statistics.median(r["images_per_s"] for r in rows) / base,
                                      "rounds": rows} for count, rows in by_count.items()}
    result = {"benchmark": "scaling", "machine": machine(torch.device(args.device)), "device": args.device,
              "threads_per_process": args.threads, "global_batch": args.batch_size, "rounds": args.rounds,
              "search_network": f"C={args.search_channels}, {args.search_cells} cells, 8 ops",
              "train_network": f"PDARTS C={args.train_channels}, {args.train_cells} cells, auxiliary head",
              "results": summary_rows}
    summary = "; ".join(
        f"{kind}: " + ", ".join(f"{count} proc {row['images_per_s']:.1f} img/s ({row['speedup']:.2f}x)"
                                for count, row in rows.items())
        for kind, rows in summary_rows.items())
    summary += (f" [{args.device}, {args.threads} thread(s) per process, global batch {args.batch_size}, "
                f"{args.rounds} alternating rounds]")
    report("scaling", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
