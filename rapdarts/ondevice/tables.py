"""Latency table files: where and how they were measured, written atomically, resumed after an interruption.

The format (``rapdarts-latency-table/4``)::

    {"format": ..., "header": {"device", "onnxruntime", "provider", "intra_threads", ..., "batch", "dtype",
                               "precision", "target", "overhead_ms", "complete", "calibration", "noise_floor",
                               "reference", "warnings", ...},
     "entries": {"<op spec key>": {"spec": {...}, "group": "sep_conv_3x3", "latency_ms", "median_ms", "p10_ms",
                                   "p90_ms", "blocks_ms", "noisy", ...}}}

``latency_ms`` is the latency statistic (:mod:`.statistic`); ``calibration`` holds the per-group
scales fitted on whole networks and how the calibrated table did on held-out networks (see
:mod:`.calibration`); ``noise_floor`` how repeatable the timing was while the table was made.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .files import atomic_write_text
from .machine import machine_identity
from .statistic import STATISTIC
from .timing import TimingSettings

TABLE_FORMAT = "rapdarts-latency-table/5"
OLD_TABLE_FORMATS = ("rapdarts-latency-table/1", "rapdarts-latency-table/2", "rapdarts-latency-table/3",
                     "rapdarts-latency-table/4")
"""Formats still read: /1 (before calibration existed, used uncalibrated), /2 (entries priced by their median
of session medians, before the latency statistic and the noise floor) and /3 (entries priced by the interquartile
mean of block medians, before the 10th percentile) and /4 (the plain, interpolated 10th percentile of block
medians, before its Harrell-Davis estimate)."""
OLD_STATISTICS = {"rapdarts-latency-table/2": "the median of session medians",
                  "rapdarts-latency-table/3": "the interquartile mean of block medians",
                  "rapdarts-latency-table/4": "the plain 10th percentile of block medians"}
"""What the entries of an older table are, for the warning that says so."""
MANIFEST_FORMAT = "rapdarts-op-export/2"
SAME_MACHINE_KEYS = ("device", "onnxruntime", "provider", "intra_threads", "inter_threads", "optimization", "batch",
                     "dtype", "precision")
"""Header fields that must agree for a measurement to belong to a table."""


def cache_sizes() -> dict[str, str]:
    """The CPU's cache sizes as the OS reports them (Linux), e.g. ``{"L1d": "32K", "L2": "512K", ...}``."""
    sizes: dict[str, str] = {}
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(root.glob("index*")) if root.is_dir() else ():
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes[name] = size
    return sizes


def table_header(settings: TimingSettings, batch: int, dtype: str, expected: int, created_by: str,
                 target: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where and how a table is measured; ``complete`` stays false until every entry (and the calibration) exists."""
    return {
        **machine_identity(), "cpu_caches": cache_sizes(), "hostname": platform.node(),
        **settings.to_dict(), "statistic": STATISTIC, "batch": batch, "dtype": dtype, "target": target,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "created_by": created_by,
        "overhead_ms": None, "entries_expected": expected, "complete": False, "calibration": None, "warnings": [],
    }


def write_table(path: str | Path, header: dict[str, Any], entries: dict[str, Any]) -> None:
    """Atomically write a latency table (a reader never sees half a file)."""
    atomic_write_text(path, json.dumps({"format": TABLE_FORMAT, "header": header, "entries": entries}, indent=1))


def read_partial(path: Path, header: dict[str, Any]) -> dict[str, dict[str, list[list[float]]]]:
    """The runs an earlier, interrupted run of the same profile measured (``{"ops": ..., "networks": ...}``).

    Only a table of this format, machine, setting and target counts; anything else starts afresh.
    """
    if not path.exists():
        return {}
    try:
        previous = json.loads(path.read_text())
    except ValueError:
        return {}
    old = previous.get("header", {}) if isinstance(previous, dict) else {}
    same = all(old.get(k) == header.get(k) for k in (*SAME_MACHINE_KEYS, "warmup", "repeats", "target"))
    if previous.get("format") != TABLE_FORMAT or not same or not isinstance(old.get("partial"), dict):
        return {}
    return old["partial"]
