"""Timing ONNX models with ONNX Runtime: fresh sessions, warm-up, medians, interleaving, noise checks.

Practice (ONNX Runtime's performance guidance; TF-NAS and HardCoRe-NAS tables): fixed intra-op
threads, one inter-op thread, sequential execution, a recorded optimisation level; warm-up runs
first (the first runs can be a thousand times slower), then the median of many runs. One session
is one sample: a model's latency is the median of its *session* medians, because what changes
between sessions (thread placement, allocations, a busy neighbour) is the larger noise on shared
machines. Many models are timed in *interleaved* rounds, each round in a new random order, so
that a machine drifting over minutes shifts every model alike instead of biasing the ones timed
last. A model whose session medians spread by more than ``noise_threshold`` is timed again; one
that stays noisy is flagged, so a busy machine yields a warning, not a silently wrong number.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    """Fresh sessions per model (rounds, when models are interleaved)."""
    noise_threshold: float = 0.10
    """A model whose session medians spread by more than this share of their median is timed again."""
    extra_sessions: int = 4
    """At most this many more sessions for a noisy model."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimingSettings:
        """From a table header (keys it does not know are ignored; missing ones take the defaults)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass
class Timing:
    """Latency of one model: the median of its session medians, with the spread (ms)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float
    session_medians_ms: list[float] = field(default_factory=list)
    noisy: bool = False

    @property
    def spread(self) -> float:
        """``(max - min) / median`` of the session medians."""
        return spread(self.session_medians_ms)

    @property
    def session_cv(self) -> float:
        """Coefficient of variation of the session medians."""
        if len(self.session_medians_ms) < 2:
            return 0.0
        return statistics.stdev(self.session_medians_ms) / statistics.mean(self.session_medians_ms)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "session_cv": self.session_cv, "spread": self.spread}


def spread(values: Sequence[float]) -> float:
    """``(max - min) / median``: how far apart repeated measurements of one thing are."""
    if len(values) < 2:
        return 0.0
    return (max(values) - min(values)) / statistics.median(values)


def ort_module() -> Any:
    import onnxruntime

    return onnxruntime


def check_settings(settings: TimingSettings) -> None:
    """Raise :class:`ProfilingError` for an execution provider or level this onnxruntime lacks."""
    ort = ort_module()
    available = ort.get_available_providers()
    if settings.provider not in available:
        raise ProfilingError(f"execution provider {settings.provider!r} is not available in onnxruntime "
                             f"{ort.__version__}; available: {', '.join(available)}")
    if settings.optimization not in OPTIMIZATION_LEVELS:
        raise ProfilingError(f"graph optimisation level {settings.optimization!r}: choose one of "
                             f"{', '.join(OPTIMIZATION_LEVELS)}")
    if min(settings.intra_threads, settings.inter_threads, settings.repeats, settings.sessions) < 1 \
            or settings.warmup < 0 or settings.extra_sessions < 0 or not settings.noise_threshold > 0:
        raise ProfilingError("threads, repeats and sessions must be at least 1, warm-up and extra sessions at "
                             "least 0, and the noise threshold positive")


def make_session(model: bytes | str | Path, settings: TimingSettings) -> Any:
    """An ``InferenceSession`` configured by ``settings``; unknown providers are a clear error."""
    ort = ort_module()
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


def run_session(session: Any, inputs: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def session_times(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings) -> list[float]:
    """The timed runs (ms) of one fresh session, after its warm-up runs."""
    session = make_session(model, settings)
    feed = {session.get_inputs()[0].name: inputs}
    for _ in range(settings.warmup):
        session.run(None, feed)
    times = []
    for _ in range(settings.repeats):
        start = time.perf_counter_ns()
        session.run(None, feed)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def summarize(session_samples: Sequence[Sequence[float]], settings: TimingSettings) -> Timing:
    """One :class:`Timing` from the runs of several sessions."""
    medians = [statistics.median(times) for times in session_samples]
    pooled = [t for times in session_samples for t in times]
    p10, p25, p75, p90 = np.percentile(pooled, [10, 25, 75, 90])
    return Timing(statistics.median(medians), float(p10), float(p90), float(p75 - p25), medians,
                  noisy=spread(medians) > settings.noise_threshold)


Model = tuple[str, "bytes | str | Path", np.ndarray]
"""``(name, ONNX model, inputs)``."""


def time_models(models: Sequence[Model], settings: TimingSettings, seed: int = 0,
                done: Mapping[str, Sequence[Sequence[float]]] | None = None,
                on_round: Callable[[dict[str, list[list[float]]]], None] | None = None) -> dict[str, Timing]:
    """Time every model in ``settings.sessions`` interleaved rounds, then re-time the noisy ones.

    ``done`` holds runs already measured (an interrupted profile); ``on_round`` is called with all
    runs so far after every round, so a caller can save them. Returns a :class:`Timing` per name.
    """
    samples: dict[str, list[list[float]]] = {name: [list(s) for s in (done or {}).get(name, ())]
                                             for name, _, _ in models}
    by_name = {name: (model, inputs) for name, model, inputs in models}

    def rounds(names: list[str], wanted: Callable[[str], bool], count: int, first_round: int) -> None:
        for index in range(count):
            order = [name for name in names if wanted(name)]
            if not order:
                return
            random.Random(seed * 1000 + first_round + index).shuffle(order)
            for name in order:
                samples[name].append(session_times(*by_name[name], settings))
            if on_round is not None:
                on_round(samples)

    names = list(by_name)
    rounds(names, lambda name: len(samples[name]) < settings.sessions, settings.sessions, 0)
    noisy = lambda name: spread([statistics.median(s) for s in samples[name]]) > settings.noise_threshold  # noqa: E731
    limit = settings.sessions + settings.extra_sessions
    for extra in range(settings.extra_sessions):
        rounds([n for n in names if noisy(n) and len(samples[n]) < limit], lambda _: True, 1, 100 + extra)
    return {name: _robust(samples[name], settings) for name in names}


def _robust(session_samples: list[list[float]], settings: TimingSettings) -> Timing:
    """A noisy model's timing from its steadiest sessions: the median of those within the threshold of the
    fastest cluster, when they are the majority; otherwise all sessions, flagged as noisy."""
    timing = summarize(session_samples, settings)
    if not timing.noisy:
        return timing
    medians = [statistics.median(s) for s in session_samples]
    centre = statistics.median(medians)
    steady = [s for s, m in zip(session_samples, medians) if abs(m - centre) <= settings.noise_threshold * centre / 2]
    if len(steady) * 2 > len(session_samples) and len(steady) >= 2:
        kept = summarize(steady, settings)
        kept.noisy = False
        return kept
    return timing


def time_model(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings = TimingSettings()) -> Timing:
    """Median latency (ms) of one model over ``settings.sessions`` fresh sessions (more if they disagree)."""
    return time_models([("model", model, inputs)], settings)["model"]
