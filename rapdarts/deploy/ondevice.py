"""Time ONNX models with ONNX Runtime and write latency tables; needs only onnxruntime and numpy.

This file imports nothing from rapdarts or torch, so it runs on a device that has neither:
``rapdarts export-ops DIR`` writes the op models, a manifest and a copy of this script into
``DIR``; on the device run ``python DIR/profile_ops.py DIR``; copy ``DIR/latency_table.json`` back
and pass it to the ``latency`` cost (``--cost-option latency.table=...``). rapdarts itself uses
the same functions, so host and device measure identically.

Timing practice (as ONNX Runtime's own performance guidance and TF-NAS/HardCoRe-NAS tables do it):
fixed intra-op threads, one inter-op thread, sequential execution, a recorded optimisation level;
warm-up runs first (the first runs can be a thousand times slower), then the median of many runs
over several fresh sessions (one op's time varied by 14-16% between sessions on this project's
shared machines); the spread is kept with the median. The per-call overhead of ``session.run`` is measured
once with a trivial model and stored in the header.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

TABLE_FORMAT = "rapdarts-latency-table/1"
MANIFEST_FORMAT = "rapdarts-op-export/1"
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


class ProfilingError(Exception):
    """A problem with the profiling set-up, stated in one line."""


@dataclass(frozen=True)
class TimingSettings:
    """How a model is timed with ONNX Runtime; stored with every measurement."""

    provider: str = "CPUExecutionProvider"
    intra_threads: int = 1
    inter_threads: int = 1
    optimization: str = "all"
    warmup: int = 10
    repeats: int = 50
    sessions: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Timing:
    """Latency of one model: median over all timed runs of all sessions, with its spread (ms)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float
    session_medians_ms: list[float] = field(default_factory=list)

    @property
    def session_cv(self) -> float:
        """Coefficient of variation of the per-session medians."""
        if len(self.session_medians_ms) < 2:
            return 0.0
        return statistics.stdev(self.session_medians_ms) / statistics.mean(self.session_medians_ms)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "session_cv": self.session_cv}


def _ort():
    import onnxruntime

    return onnxruntime


def check_settings(settings: TimingSettings) -> None:
    """Raise :class:`ProfilingError` for an execution provider or level this onnxruntime lacks."""
    ort = _ort()
    available = ort.get_available_providers()
    if settings.provider not in available:
        raise ProfilingError(f"execution provider {settings.provider!r} is not available in onnxruntime "
                             f"{ort.__version__}; available: {', '.join(available)}")
    if settings.optimization not in OPTIMIZATION_LEVELS:
        raise ProfilingError(f"graph optimisation level {settings.optimization!r}: choose one of "
                             f"{', '.join(OPTIMIZATION_LEVELS)}")


def make_session(model: bytes | str | Path, settings: TimingSettings):
    """An ``InferenceSession`` configured by ``settings``; unknown providers are a clear error."""
    ort = _ort()
    check_settings(settings)
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_threads
    options.inter_op_num_threads = settings.inter_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[settings.optimization]
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=[settings.provider])


def run_session(session, inputs: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def time_model(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings = TimingSettings()) -> Timing:
    """Median latency (ms) of ``model`` on ``inputs`` over ``settings.sessions`` fresh sessions."""
    samples: list[float] = []
    session_medians: list[float] = []
    for _ in range(settings.sessions):
        session = make_session(model, settings)
        feed = {session.get_inputs()[0].name: inputs}
        for _ in range(settings.warmup):
            session.run(None, feed)
        times = []
        for _ in range(settings.repeats):
            start = time.perf_counter_ns()
            session.run(None, feed)
            times.append((time.perf_counter_ns() - start) / 1e6)
        session_medians.append(statistics.median(times))
        samples.extend(times)
    p10, p25, p75, p90 = np.percentile(samples, [10, 25, 75, 90])
    return Timing(statistics.median(samples), float(p10), float(p90), float(p75 - p25), session_medians)


def device_name() -> str:
    """The CPU model (or machine) this process runs on."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({platform.machine()}, {platform.system()})"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({platform.machine()}, {platform.system()})"


def table_header(settings: TimingSettings, batch: int, dtype: str, expected: int, created_by: str) -> dict[str, Any]:
    """Where and how a table is measured; ``complete`` stays false until every entry exists."""
    ort = _ort()
    return {
        "device": device_name(), "hostname": platform.node(), "onnxruntime": ort.__version__,
        **settings.to_dict(), "batch": batch, "dtype": dtype,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "created_by": created_by,
        "overhead_ms": None, "entries_expected": expected, "complete": False,
    }


def write_table(path: str | Path, header: dict[str, Any], entries: dict[str, Any]) -> None:
    """Atomically write a latency table (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": TABLE_FORMAT, "header": header, "entries": entries}, indent=1)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_partial(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    """Entries of an earlier (possibly interrupted) run with the same settings, to be completed."""
    if not path.exists():
        return {}
    try:
        previous = json.loads(path.read_text())
    except ValueError:
        return {}
    same = ("device", "onnxruntime", "provider", "intra_threads", "inter_threads", "optimization", "batch", "dtype")
    old = previous.get("header", {})
    if previous.get("format") != TABLE_FORMAT or any(old.get(k) != header[k] for k in same):
        return {}
    return dict(previous.get("entries", {}))


def _print_progress(done: int, total: int, key: str, timing: Timing) -> None:
    print(f"[{done}/{total}] {key}: {timing.median_ms:.4f} ms", file=sys.stderr)


def profile_manifest(directory: str | Path, out: str | Path | None = None, settings: TimingSettings = TimingSettings(),
                     on_entry: Any = _print_progress) -> Path:
    """Time every op model listed in ``directory/manifest.json``; returns the table path.

    Resumable: entries already in ``out`` (same device and settings) are kept, and the table is
    rewritten after every op with ``complete: false`` until the last one is done.
    """
    directory = Path(directory)
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise ProfilingError(f"{directory / 'manifest.json'} is missing or not valid JSON ({error}); create it with "
                             "'rapdarts export-ops'") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ProfilingError(f"{directory / 'manifest.json'} is not a rapdarts op export")
    out = Path(out) if out else directory / "latency_table.json"
    entries_wanted = manifest["entries"]
    header = table_header(settings, manifest["batch"], manifest["dtype"], len(entries_wanted),
                          f"profile_ops.py ({manifest.get('created_by', '?')})")
    entries = read_partial(out, header)
    overhead = manifest["overhead"]
    header["overhead_ms"] = time_model(directory / overhead["file"], np.zeros(overhead["input_shape"], np.float32),
                                       settings).median_ms
    rng = np.random.default_rng(0)
    for index, item in enumerate(entries_wanted):
        if item["key"] in entries:
            continue
        inputs = rng.standard_normal(item["input_shape"]).astype(item.get("numpy_dtype", "float32"))
        timing = time_model(directory / item["file"], inputs, settings)
        entries[item["key"]] = {"spec": item["spec"], **timing.to_dict()}
        header["complete"] = len(entries) == len(entries_wanted)
        write_table(out, header, entries)
        if on_entry is not None:
            on_entry(index + 1, len(entries_wanted), item["key"], timing)
    header["complete"] = True
    write_table(out, header, entries)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the op models exported by 'rapdarts export-ops' with "
                                                 "ONNX Runtime and write a latency table.")
    parser.add_argument("directory", help="the directory written by 'rapdarts export-ops'")
    parser.add_argument("--out", help="table file (default DIR/latency_table.json)")
    parser.add_argument("--provider", default="CPUExecutionProvider")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--optimization", default="all", choices=OPTIMIZATION_LEVELS)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = TimingSettings(args.provider, args.threads, 1, args.optimization, args.warmup, args.repeats,
                              args.sessions)
    try:
        check_settings(settings)
        path = profile_manifest(args.directory, args.out, settings, None if args.quiet else _print_progress)
    except ProfilingError as error:
        print(f"profile_ops: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("profile_ops: interrupted; rerun the same command to complete the table", file=sys.stderr)
        return 130
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
