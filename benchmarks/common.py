"""Shared helpers of the benchmark scripts: machine description, JSON output, RESULTS.md rows."""

from __future__ import annotations

import json
import platform
import resource
import shlex
import sys
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine(device: torch.device) -> str:
    from rapdarts.runtime.environment import cpu_model

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    return f"{cpu_model()}, {torch.get_num_threads()} threads (torch {torch.__version__}, {platform.machine()})"


def timed_calls(steps: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1,
                device: torch.device | None = None, before: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each call of every step, ``warmup`` untimed rounds first, the steps interleaved in every round
    (so a machine that slows down for a while slows them alike). On CUDA the device is synchronised around each
    call; ``before`` runs before each timed call (a barrier across processes, say)."""
    import time

    def sync() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    times: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(warmup + repeats):
        for name, step in steps.items():
            sync()
            if before is not None:
                before()
            start = time.perf_counter()
            step()
            sync()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def peak_rss_gb() -> float:
    """Peak resident memory of this process in GB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def report(name: str, result: dict[str, Any], summary: str, write: bool = True) -> None:
    """Print ``result`` as JSON and append a dated row to RESULTS.md."""
    print(json.dumps(result, indent=1))
    if not write:
        return
    command = "python " + " ".join(shlex.quote(a) for a in [f"benchmarks/{name}.py", *sys.argv[1:]])
    row = f"| {date.today().isoformat()} | `{command}` | {result.get('machine', '')} | {summary} |\n"
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\n| date | command | machine | numbers |\n|---|---|---|---|\n")
    with RESULTS.open("a") as file:
        file.write(row)
