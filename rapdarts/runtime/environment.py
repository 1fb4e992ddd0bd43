"""What a run was computed with: library versions, machine and device, for the run directory."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import torch

from rapdarts.ondevice.machine import cpu_model

PACKAGES = ("rapdarts", "torch", "torchvision", "numpy", "scikit-learn", "pluggy", "fvcore", "onnx",
            "onnxruntime", "matplotlib", "click", "tqdm")


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
