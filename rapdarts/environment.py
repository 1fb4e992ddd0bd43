"""What a run was computed with: library versions, machine and device, for the run directory."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import torch

PACKAGES = ("rapdarts", "torch", "torchvision", "numpy", "scikit-learn", "pluggy", "fvcore", "onnx",
            "onnxruntime", "matplotlib", "click", "tqdm")


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it, else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_environment(device: torch.device | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "packages": package_versions(),
        "command": sys.argv,
    }
    if device is not None:
        info["device"] = str(device)
        if device.type == "cuda":
            info["cuda_device"] = torch.cuda.get_device_name(device)
            info["cuda_version"] = torch.version.cuda
    return info


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    from .errors import RapdartsError

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


def prepare_device(device: str, amp: bool, threads: int | None) -> torch.device:
    """Resolve a run's device and apply its thread count; mixed precision is refused off CUDA.

    Search and training share this so both reject the same settings with the same message.
    """
    from .errors import RapdartsError

    resolved = resolve_device(device)
    if amp and resolved.type != "cuda":
        raise RapdartsError("--amp needs a CUDA device (mixed precision is not used on the CPU)")
    if threads:
        torch.set_num_threads(threads)
    return resolved
