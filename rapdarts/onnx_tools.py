"""ONNX export and ONNX Runtime timing, shared by latency profiling, export and reports.

Timing practice (``shared/reference/cost-model-facts.md``): fixed intra-op threads (default 1),
one inter-op thread, sequential execution, a recorded graph-optimisation level; warm-up runs
first (the first runs can be 1000x slower), then the median of many runs, repeated across
several fresh sessions because a single op's time varies by ~15% between sessions on a shared
machine. The spread is reported with the median.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write
from .errors import RapdartsError

OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
DEFAULT_OPSET = 17


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: str | Path | None = None,
                opset: int = DEFAULT_OPSET, what: str = "model") -> bytes:
    """Export ``module`` (in eval mode, static shapes) to ONNX bytes; also write ``path`` if given.

    Uses torch's TorchScript-based exporter, which needs no extra dependency and handles every op
    of this search space; a failure is a one-line error naming ``what`` was exported.
    """
    module = module.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), buffer, input_names=["input"], output_names=["output"],
                              opset_version=opset, dynamo=False, do_constant_folding=True)
    except Exception as error:  # noqa: BLE001 - exporter errors come in many types
        raise RapdartsError(f"ONNX export of {what} failed: {type(error).__name__}: {str(error).splitlines()[0]}") \
            from None
    data = buffer.getvalue()
    if path is not None:
        atomic_write(path, lambda file: file.write(data))
    return data


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
    """Latency of one model: median over all timed runs of all sessions, with its spread."""

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


def make_session(model: bytes | str | Path, settings: TimingSettings):
    """An ``InferenceSession`` configured by ``settings``; unknown providers are a clear error."""
    ort = _ort()
    available = ort.get_available_providers()
    if settings.provider not in available:
        raise RapdartsError(f"execution provider {settings.provider!r} is not available in onnxruntime "
                            f"{ort.__version__}; available: {', '.join(available)}")
    if settings.optimization not in OPTIMIZATION_LEVELS:
        raise RapdartsError(f"graph optimisation level {settings.optimization!r}: choose one of "
                            f"{', '.join(OPTIMIZATION_LEVELS)}")
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
    name = session.get_inputs()[0].name
    return session.run(None, {name: inputs})[0]


def time_model(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings = TimingSettings()) -> Timing:
    """Median latency (ms) of ``model`` on ``inputs`` over ``settings.sessions`` fresh sessions."""
    samples: list[float] = []
    session_medians: list[float] = []
    for _ in range(settings.sessions):
        session = make_session(model, settings)
        name = session.get_inputs()[0].name
        feed = {name: inputs}
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
