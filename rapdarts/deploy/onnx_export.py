"""ONNX export (torch) and ONNX Runtime timing, shared by latency profiling, export and reports.

The timing itself lives in :mod:`rapdarts.ondevice`, which needs only onnxruntime and numpy so
the same code runs on target devices; this module adds export and rapdarts' one-line errors.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from rapdarts import ondevice
from rapdarts.errors import RapdartsError
from rapdarts.ondevice import OPTIMIZATION_LEVELS, Timing, TimingSettings, run_session
from rapdarts.storage.atomic import atomic_write

__all__ = ["OPTIMIZATION_LEVELS", "Timing", "TimingSettings", "export_onnx", "make_session", "run_session",
           "time_model"]

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


def make_session(model: bytes | str | Path, settings: TimingSettings):
    """An ONNX Runtime session configured by ``settings`` (one-line errors for bad settings)."""
    try:
        return ondevice.make_session(model, settings)
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None


def time_model(model: bytes | str | Path, inputs: np.ndarray, settings: TimingSettings = TimingSettings()) -> Timing:
    """Median latency (ms) over several fresh sessions; see :func:`rapdarts.ondevice.time_model`."""
    try:
        return ondevice.time_model(model, inputs, settings)
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None
