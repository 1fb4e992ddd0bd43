"""Overhead of resource costs in the search: step time with no cost vs with costs active.

Same network, same batch, runs interleaved (no-cost, cost, no-cost, cost, ...) so drift in the
machine affects both equally; the ratio of medians is reported. The cost-table build time is
reported separately, cold (empty on-disk cache) and warm (second build, from cache).

    python benchmarks/cost_overhead.py [--costs params,flops] [--cells 5] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--costs", default="params,flops", help="comma-separated cost names")
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cost-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import torch
    from common import machine, report, timed_calls

    from rapdarts.costs import CostCache, CostTable, ExpectedCost, TargetNetwork
    from rapdarts.data import DataShape
    from rapdarts.plugins.manager import discover_providers
    from rapdarts.search.config import SearchConfig
    from rapdarts.search.loss import SearchLoss
    from rapdarts.search.optimizers import SearchOptimizers
    from rapdarts.space.ops import primitives
    from rapdarts.space.supernet import SearchNetwork

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [n for n in args.costs.split(",") if n]
    options = dict(item.split("=", 1) for item in args.cost_option)
    providers = discover_providers(options=options).select(names)
    candidates = {cell: tuple(primitives() for _ in range(14)) for cell in ("normal", "reduce")}
    target = TargetNetwork(DataShape(image_size=(args.image_size, args.image_size)))

    build = {}
    with tempfile.TemporaryDirectory() as cache:
        for phase in ("cold", "warm"):
            cache = CostCache(cache)
            start = time.perf_counter()
            tables = [CostTable.build(p, target, candidates, cache) for p in providers]
            cache.flush(providers)
            build[phase] = {"seconds": time.perf_counter() - start, "computed": cache.computed}

    torch.manual_seed(0)
    model = SearchNetwork(args.channels, 10, args.cells, candidates["normal"], candidates["reduce"],
                          image_size=(args.image_size, args.image_size)).to(device)
    model = model.to(memory_format=torch.channels_last)
    config = SearchConfig(device=args.device)
    plain = SearchOptimizers(model, config, SearchLoss())
    costed = SearchOptimizers(model, config, SearchLoss([ExpectedCost(t.to(device), 1e-9) for t in tables]))
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)

    def step(steps: SearchOptimizers) -> None:
        steps.alpha_step(x, y)
        steps.weight_step(x, y)

    times = timed_calls({"none": lambda: step(plain), "costs": lambda: step(costed)}, args.repeats, 1, device)
    # The term itself, timed alone, bounds the overhead independently of step-time noise.
    term_start = time.perf_counter()
    for _ in range(100):
        loss = sum(term.weight * term.value(model) for term in costed.loss.terms)
        loss.backward()
    term_ms = (time.perf_counter() - term_start) * 10
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["costs"] / median["none"]
    result = {"benchmark": "cost_overhead", "machine": machine(device), "costs": names, "cells": args.cells,
              "batch_size": args.batch_size, "channels": args.channels, "image_size": args.image_size,
              "step_s": median, "steps": times, "overhead_ratio": ratio, "cost_term_fwd_bwd_ms": term_ms,
              "table_build": build}
    summary = (f"costs {','.join(names)}: step {median['none']:.3f}s without vs {median['costs']:.3f}s with "
               f"(ratio {ratio:.4f}; the cost terms alone {term_ms:.3f} ms fwd+bwd); cost tables (eval target, "
               f"8 ops) cold {build['cold']['seconds']:.1f}s ({build['cold']['computed']} op costs), warm "
               f"{build['warm']['seconds']:.2f}s ({build['warm']['computed']} computed)")
    report("cost_overhead", result, summary, write=not args.no_write)


if __name__ == "__main__":
    main()
