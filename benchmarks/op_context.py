"""How much of an op timed alone is paid for being alone? Ops timed alone and in chains of their own kind.

A latency table or the surrogate times each op as its own ONNX model, and a network is priced as the
sum of those times less the per-call overhead. ``benchmarks/RESULTS.md`` (2026-12-03) found that sum
over-priced whole networks by a factor that falls with width and changes with batch, and guessed the
cause: an op alone pays at its boundaries (the graph input and output, the layout changes ONNX
Runtime makes there) what an op between neighbours does not. This benchmark measures that boundary
share directly. Every configuration is timed in the same interleaved rounds as a model of one op and
as a chain of ``--chain`` copies of it (each copy with its own weights); with ``T_1`` and ``T_K`` the
two latencies (the rapdarts statistic) and ``o`` the per-call overhead:

* ``in_chain = (T_K - T_1) / (K - 1)``: what one more op costs between neighbours of its kind;
* ``ratio = in_chain / (T_1 - o)``: the share of the op's priced time (alone, overhead removed) that it
  still costs in a chain; 1 means the op alone is priced right;
* ``boundary = T_1 - o - in_chain``, also per million elements the op reads and writes.

Configurations: the stride-1 cell ops and the 1x1 preprocessing of the CIFAR evaluation network
(stage shapes ``C x 32``, ``2C x 16``, ``4C x 8``) at the widths and batches of the surrogate's checks.
If the ratio moves with width and batch the way the networks' factor did, timing ops in context is
what the surrogate needs (issue 20); if it sits near 1, the cause is elsewhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

OPS = ("sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "relu_conv_bn")
NETWORK_SHAPES = ((16, 1), (36, 1), (48, 1), (36, 4), (36, 8))
"""``(init channels, batch)`` of the evaluation networks whose stage shapes are timed."""
QUICK_SHAPES = ((16, 1), (36, 4))


def stage_specs(op: str, channels: int, batch: int) -> list:
    """The op at the three stage shapes of a CIFAR network of ``channels`` initial channels (stride 1)."""
    from rapdarts.costs.spec import OpSpec

    return [OpSpec(op, channels * 2 ** stage, channels * 2 ** stage, 1, 32 // 2 ** stage, 32 // 2 ** stage, batch)
            for stage in range(3)]


def measure(shapes, length: int, sessions: int, threads: int) -> tuple[dict, float, float]:
    """Latencies (ms) of every configuration alone and in a chain, and the per-call overhead, timed together."""
    from rapdarts import ondevice
    from rapdarts.latency.surrogate_context import export_chain
    from rapdarts.latency.surrogate_sample import export_op, op_input, overhead_spec

    specs = [spec for op in OPS for channels, batch in shapes for spec in stage_specs(op, channels, batch)]
    models = [("overhead", export_op(overhead_spec()), op_input(overhead_spec()))]
    for spec in specs:
        models.append((f"1:{spec.key()}", export_op(spec), op_input(spec)))
        models.append((f"{length}:{spec.key()}", export_chain(spec, length), op_input(spec)))
    settings = ondevice.TimingSettings(intra_threads=threads, sessions=sessions)
    start = time.perf_counter()
    timings = ondevice.time_models(models, settings, seed=3)
    seconds = time.perf_counter() - start
    overhead = timings.pop("overhead").latency_ms
    return {spec.key(): (spec, timings[f"1:{spec.key()}"].latency_ms, timings[f"{length}:{spec.key()}"].latency_ms)
            for spec in specs}, overhead, seconds


def network_shape(spec) -> str:
    stage = {32: 0, 16: 1, 8: 2}[spec.height]
    return f"C{spec.C_in // 2 ** stage}-b{spec.batch}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", type=int, default=4, help="ops in a chain")
    parser.add_argument("--sessions", type=int, default=8, help="fresh sessions per model")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--quick", action="store_true", help="two network shapes, 2 sessions: a smoke run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from common import report

    from rapdarts.ondevice.machine import device_name

    shapes = QUICK_SHAPES if args.quick else NETWORK_SHAPES
    sessions = 2 if args.quick else args.sessions
    measured, overhead, seconds = measure(shapes, args.chain, sessions, args.threads)
    rows = []
    for key, (spec, alone, chained) in measured.items():
        in_chain = (chained - alone) / (args.chain - 1)
        priced = alone - overhead
        elements = spec.batch * spec.C_in * spec.height * spec.width * 2  # read and written (stride 1)
        rows.append({"op": spec.op, "network": network_shape(spec), "C": spec.C_in, "size": spec.height,
                     "batch": spec.batch, "alone_ms": alone, "chain_ms": chained, "in_chain_ms": in_chain,
                     "ratio": in_chain / priced if priced > 0 else None,
                     "boundary_ms": priced - in_chain, "boundary_ms_per_million": (priced - in_chain) / elements * 1e6})
    by_network = {}
    for shape in dict.fromkeys(row["network"] for row in rows):
        picked = [row for row in rows if row["network"] == shape and row["ratio"] is not None]
        total_alone = sum(row["alone_ms"] - overhead for row in picked)
        total_chain = sum(row["in_chain_ms"] for row in picked)
        by_network[shape] = {"ratio_of_sums": total_chain / total_alone,
                             "median_ratio": statistics.median(row["ratio"] for row in picked),
                             "median_boundary_ms_per_million": statistics.median(
                                 row["boundary_ms_per_million"] for row in picked)}
    by_op = {op: {shape: statistics.median(row["ratio"] for row in rows if row["op"] == op and row["network"] == shape)
                  for shape in by_network} for op in OPS}
    result = {"benchmark": "op_context", "machine": f"{device_name()}, {args.threads} ONNX Runtime thread(s)",
              "settings": vars(args), "seconds": seconds, "overhead_ms": overhead, "by_network": by_network,
              "ratio_by_op": by_op, "rows": rows}
    summary = "; ".join(f"{shape}: chain/alone {values['ratio_of_sums']:.2f} (median op {values['median_ratio']:.2f}, "
                        f"boundary {values['median_boundary_ms_per_million']:.2f} ms per million elements)"
                        for shape, values in by_network.items())
    report("op_context", result, f"{len(rows)} configurations alone and in chains of {args.chain}, {sessions} "
           f"sessions each, interleaved ({seconds / 60:.1f} min); overhead {overhead * 1e3:.0f} us; {summary}",
           write=not args.no_write)


if __name__ == "__main__":
    main()
