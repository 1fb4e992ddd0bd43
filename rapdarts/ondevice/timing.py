"""Timing ONNX models with ONNX Runtime: fresh sessions, warm-up, short blocks, interleaved rounds, re-timing.

Practice (ONNX Runtime's performance guidance; TF-NAS and HardCoRe-NAS tables): fixed intra-op
threads, one inter-op thread, sequential execution, a recorded optimisation level; warm-up runs
first (the first runs can be a thousand times slower). What changes between sessions (thread
placement, allocations) and over seconds to minutes (a busy neighbour, a slow phase of a shared
machine) is the larger noise, so a model is timed in many *fresh sessions*, each cut into short
*blocks*, and the sessions of all models are *interleaved*: every round times every model once,
in a new random order, so a machine that drifts shifts every model alike instead of biasing the
ones timed last. The latency is the statistic of :mod:`.statistic` over all block medians. A
model whose first and second halves of sessions disagree by more than ``noise_threshold`` is
timed in more rounds; one that stays unsettled is flagged, so a busy machine yields a warning,
not a silently wrong number.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .statistic import Timing, block_medians, noise_floor

OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
PRECISIONS = ("fp32", "int8")
FALLBACK_PROVIDERS = {"TensorrtExecutionProvider": ("CUDAExecutionProvider", "CPUExecutionProvider"),
                      "CUDAExecutionProvider": ("CPUExecutionProvider",)}
"""What a GPU session may fall back to for ops its provider does not run (ONNX Runtime assigns each node)."""


class ProfilingError(Exception):
    """A problem with the profiling set-up, stated in one line."""


@dataclass(frozen=True)
class TimingSettings:
    """How a model is timed with ONNX Runtime; stored with every measurement."""

    provider: str = "CPUExecutionProvider"
    intra_threads: int = 1
    inter_threads: int = 1
    optimization: str = "all"
    warmup: int = 5
    """Untimed runs at the start of every session."""
    repeats: int = 20
    """Timed runs per session."""
    sessions: int = 8
    """Fresh sessions per model (rounds, when models are interleaved)."""
    block: int = 10
    """Runs per block: the timed runs of a session are summarised by the medians of blocks of this many."""
    noise_threshold: float = 0.10
    """A model whose halves of sessions give estimates further apart than this share is timed in more rounds."""
    extra_sessions: int = 4
    """At most this many more rounds for an unsettled model."""
    precision: str = "fp32"
    """The precision the models were exported at (``int8``: quantized, QDQ); it selects the models, not the session."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimingSettings:
        """From a table header (keys it does not know are ignored; missing ones take the defaults)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


def ort_module() -> Any:
    import onnxruntime

    return onnxruntime


def check_settings(settings: TimingSettings) -> None:
    """Raise :class:`ProfilingError` for an execution provider or level this onnxruntime lacks."""
    ort = ort_module()
    available = ort.get_available_providers()
    if settings.provider not in available:
        extra = " (GPU providers come with the onnxruntime-gpu package: pip install 'rapdarts[gpu]')" \
            if settings.provider in FALLBACK_PROVIDERS else ""
        raise ProfilingError(f"execution provider {settings.provider!r} is not available in onnxruntime "
                             f"{ort.__version__}; available: {', '.join(available)}{extra}")
    if settings.optimization not in OPTIMIZATION_LEVELS:
        raise ProfilingError(f"graph optimisation level {settings.optimization!r}: choose one of "
                             f"{', '.join(OPTIMIZATION_LEVELS)}")
    if settings.precision not in PRECISIONS:
        raise ProfilingError(f"precision {settings.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if min(settings.intra_threads, settings.inter_threads, settings.repeats, settings.sessions, settings.block) < 1 \
            or settings.warmup < 0 or settings.extra_sessions < 0 or not settings.noise_threshold > 0:
        raise ProfilingError("threads, repeats, sessions and the block must be at least 1, warm-up and extra "
                             "sessions at least 0, and the noise threshold positive")


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
    providers = [settings.provider, *(p for p in FALLBACK_PROVIDERS.get(settings.provider, ())
                                      if p in ort.get_available_providers())]
    return ort.InferenceSession(source, options, providers=providers)


def run_session(session: Any, inputs: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def session_times(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings) -> list[float]:
    """The timed runs (ms) of one fresh session, after its warm-up runs.

    Inputs are fed from host memory, so on a GPU provider a run includes copying them in and the
    output back (for the batch-1 images of a latency table, a small part of the time).
    """
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


Model = tuple[str, "bytes | str | Path", np.ndarray]
"""``(name, ONNX model, inputs)``."""
Runner = Callable[["bytes | str | Path", np.ndarray, TimingSettings], list[float]]
"""``runner(model, inputs, settings)``: the timed runs (ms) of one fresh session (tests script their own)."""


def time_models(models: Sequence[Model], settings: TimingSettings, seed: int = 0,
                done: Mapping[str, Sequence[Sequence[float]]] | None = None,
                on_round: Callable[[dict[str, list[list[float]]]], None] | None = None,
                runner: Runner = session_times) -> dict[str, Timing]:
    """Time every model in ``settings.sessions`` interleaved rounds, then the unsettled ones in more rounds.

    ``done`` holds the block medians of sessions already measured (an interrupted profile);
    ``on_round`` is called with all of them after every round, so a caller can save them. Returns
    a :class:`~.statistic.Timing` per name.
    """
    samples: dict[str, list[list[float]]] = {name: [list(s) for s in (done or {}).get(name, ())]
                                             for name, _, _ in models}
    by_name = {name: (model, inputs) for name, model, inputs in models}

    def rounds(names: list[str], count: int, first_round: int) -> None:
        for index in range(count):
            order = list(names)
            if not order:
                return
            random.Random(seed * 1000 + first_round + index).shuffle(order)
            for name in order:
                samples[name].append(block_medians(runner(*by_name[name], settings), settings.block))
            if on_round is not None:
                on_round(samples)

    names = list(by_name)
    for index in range(settings.sessions):
        rounds([n for n in names if len(samples[n]) <= index], 1, index)
    unsettled = lambda name: Timing(samples[name]).split_difference > settings.noise_threshold  # noqa: E731
    for extra in range(settings.extra_sessions):
        rounds([n for n in names if unsettled(n)], 1, 100 + extra)
    return {name: Timing(samples[name], noisy=unsettled(name)) for name in names}


REFERENCE_COPIES = 3
"""A reference network is timed this many times in every round: its independent estimates are the noise floor."""


def copy_name(network: str, index: int) -> str:
    return f"{network}#copy{index}"


def time_with_floor(models: Sequence[Model], reference: str, settings: TimingSettings, seed: int = 0,
                    done: Mapping[str, Sequence[Sequence[float]]] | None = None,
                    on_round: Callable[[dict[str, list[list[float]]]], None] | None = None,
                    runner: Runner = session_times) -> tuple[dict[str, Timing], dict[str, Any]]:
    """:func:`time_models` with the model named ``reference`` timed :data:`REFERENCE_COPIES` times in every round,
    and the noise floor this achieved: the copies, each split into its two halves of rounds, are independent
    estimates of one network (:func:`~.statistic.noise_floor`). The copies are not among the timings returned."""
    _, model, inputs = next(item for item in models if item[0] == reference)
    copies = [(copy_name(reference, i), model, inputs) for i in range(1, REFERENCE_COPIES)]
    timings = time_models([*models, *copies], settings, seed, done, on_round, runner)
    estimates = [e for name in (reference, *(c for c, _, _ in copies)) for e in timings[name].estimates(2)]
    floor = noise_floor(estimates, len(timings[reference].blocks_ms) / 2, reference)
    return {name: timing for name, timing in timings.items() if "#copy" not in name}, floor


def time_model(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings = TimingSettings(),
               runner: Runner = session_times) -> Timing:
    """The latency of one model over ``settings.sessions`` fresh sessions (more if they disagree)."""
    return time_models([("model", model, inputs)], settings, runner=runner)["model"]
