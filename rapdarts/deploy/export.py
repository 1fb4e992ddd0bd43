"""Deployable ONNX models of evaluation networks, checked against torch right after export.

The deployed network has no auxiliary head (it only exists for the training loss). An export is
trusted only after ONNX Runtime reproduces torch's logits on random inputs: the largest absolute
difference is measured, returned and must stay within ``tolerance * max(1, max |logit|)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rapdarts.data import DataShape
from rapdarts.deploy.onnx_export import (
    DEFAULT_OPSET,
    TimingSettings,
    export_onnx,
    make_session,
    run_session,
    time_model,
)
from rapdarts.errors import RapdartsError
from rapdarts.space.network import EvalNetwork
from rapdarts.storage.atomic import atomic_write

DEFAULT_TOLERANCE = 1e-4


def deployable(model: EvalNetwork) -> EvalNetwork:
    """A CPU float32 copy of ``model`` without the auxiliary head, in eval mode, contiguous layout."""
    deployed = copy.deepcopy(model).cpu().float().to(memory_format=torch.contiguous_format)
    deployed.auxiliary_head = None
    deployed.drop_path_prob = 0.0
    return deployed.eval()


def random_inputs(shape: DataShape, batch: int, seed: int = 0) -> torch.Tensor:
    """Standard-normal images (the scale of normalised inputs), reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, shape.in_channels, *shape.image_size, generator=generator)


@dataclass
class ExportedModel:
    """An ONNX model and how closely ONNX Runtime reproduced torch on it."""

    onnx: bytes
    batch: int
    max_abs_diff: float
    samples: int
    tolerance: float
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "batch": self.batch, "max_abs_diff": self.max_abs_diff,
                "check_samples": self.samples, "tolerance": self.tolerance, "bytes": len(self.onnx)}


def export_checked(model: EvalNetwork, shape: DataShape, path: str | Path | None = None, batch: int = 1,
                   samples: int = 3, tolerance: float = DEFAULT_TOLERANCE, opset: int = DEFAULT_OPSET,
                   what: str = "the evaluation network") -> ExportedModel:
    """Export ``model`` (aux head removed) for ``batch`` inputs and verify it with ONNX Runtime.

    ``path`` is written only after the check passed, so a file on disk is always a verified one.
    """
    network = deployable(model)
    data = export_onnx(network, random_inputs(shape, batch), opset=opset, what=what)
    session = make_session(data, TimingSettings())
    worst = 0.0
    for sample in range(samples):
        x = random_inputs(shape, batch, seed=1 + sample)
        with torch.no_grad():
            expected = network(x)[0].numpy()
        got = run_session(session, x.numpy())
        if got.shape != expected.shape:
            raise RapdartsError(f"ONNX model of {what} returns shape {got.shape}, torch {expected.shape}")
        difference = float(np.abs(got - expected).max())
        worst = max(worst, difference)
        limit = tolerance * max(1.0, float(np.abs(expected).max()))
        if not difference <= limit:
            raise RapdartsError(f"ONNX Runtime output of {what} differs from torch by {difference:.3g} (allowed "
                                f"{limit:.3g}); the export is not trustworthy; rerun with --debug and report it")
    written = None
    if path is not None:
        written = atomic_write(path, lambda file: file.write(data))
    return ExportedModel(data, batch, worst, samples, tolerance, written)


def measure_latency(exported: ExportedModel, shape: DataShape, settings: TimingSettings) -> dict[str, Any]:
    """Median ONNX Runtime latency (ms) of an exported model, with its spread and the settings used."""
    import onnxruntime

    inputs = random_inputs(shape, exported.batch).numpy()
    timing = time_model(exported.onnx, inputs, settings)
    summary = timing.to_dict()
    return {"latency_ms": timing.latency_ms, "median_ms": timing.median_ms, "p10_ms": summary["p10_ms"],
            "p90_ms": summary["p90_ms"], "spread": timing.spread, "batch": exported.batch, "timing": settings.to_dict(),
            "onnxruntime": onnxruntime.__version__}
