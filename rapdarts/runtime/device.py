"""Where a run computes: the torch device, its thread count, and mixed precision.

Search and training share these so that both accept and reject the same settings with the same
message, and both use one autocast rule.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

from rapdarts.errors import RapdartsError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RapdartsError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RapdartsError(f"device {name} requested but CUDA is not available here; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise RapdartsError(f"device {name}: only cpu and cuda are supported")
    return device


def prepare_device(device: str, amp: bool, threads: int | None, deterministic: bool = False) -> torch.device:
    """Resolve a run's device and apply its thread count; mixed precision is refused off CUDA.

    ``deterministic`` makes torch use deterministic algorithms (and, on CUDA, a fixed cuBLAS
    workspace and no cuDNN autotuning), so that a CUDA run repeats bit for bit too.
    """
    resolved = resolve_device(device)
    if amp and resolved.type != "cuda":
        raise RapdartsError("--amp needs a CUDA device (mixed precision is not used on the CPU)")
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        if resolved.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)
    return resolved


def autocast(device: torch.device | str, amp: bool) -> AbstractContextManager:
    """bfloat16 autocast when ``amp`` (bfloat16 needs no loss scaling), else nothing."""
    if amp:
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()
