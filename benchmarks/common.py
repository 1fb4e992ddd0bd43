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
CIFAR_SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset"
"""The CIFAR-10 subset next to the clone: 10,000 training / 2,000 test images, ImageFolder layout."""


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


def add_cifar_run_options(parser: Any) -> None:
    """``--quick``, ``--data-dir``, ``--image-size``, ``--workers``, ``--out``, ``--no-write``: the options of the
    benchmarks that search and train on the CIFAR-10 subset (``pipeline.py``, ``search_vs_random.py``)."""
    parser.add_argument("--quick", action="store_true", help="tiny searches and trainings: minutes, not hours")
    parser.add_argument("--data-dir", default=str(CIFAR_SUBSET), help="CIFAR-10 subset (ImageFolder layout)")
    parser.add_argument("--image-size", type=int, default=16, help="images resized to this square size")
    parser.add_argument("--workers", type=int, default=2, help="searches or trainings at once")
    parser.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--no-write", action="store_true", help="print the JSON only; no RESULTS.md row")


def check_image_folder(data_dir: str) -> None:
    if not Path(data_dir, "train").is_dir():
        raise SystemExit(f"no CIFAR-10 subset at {data_dir} (ImageFolder with train/ and test/); pass --data-dir")


def cifar_configs(args: Any, mode: Mapping[str, Any], search_changes: Mapping[str, Any] | None = None
                  ) -> tuple[Any, Any]:
    """The training and search configs of a CIFAR-subset benchmark: ``mode`` names the profiles and their changes
    (``train_profile``/``train``, ``search_profile``/``search``). Searches price their costs on the network the
    trainings build, so predicted and trained parameter counts are comparable; no on-demand latency is priced
    (op timings taken while other workers train would be noise, and minutes)."""
    from rapdarts.search.config import profile_config
    from rapdarts.train.config import train_profile_config

    data = {"dataset": "imagefolder", "data_dir": args.data_dir, "image_size": args.image_size, "device": "cpu"}
    training = train_profile_config(mode["train_profile"]).updated({**data, **mode["train"],
                                                                    "report_costs": ("params", "flops")})
    search = profile_config(mode["search_profile"]).updated({
        **data, **mode["search"], "block_plugins": ("latency",), "target_channels": training.init_channels,
        "target_cells": training.cells, **(search_changes or {})})
    return training, search


def log_progress() -> None:
    """Show rapdarts' progress lines (each search and training as it finishes) on stderr; JSON stays on stdout."""
    import logging

    logger = logging.getLogger("rapdarts")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
