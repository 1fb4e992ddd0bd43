"""Which machine this is: the one place a latency table's device identity is read (standard library only).

A table is only extended, and networks are only timed against it, on the machine that made it, so
its identity must tell real machines apart: the CPU model as the operating system names it (from
``/proc/cpuinfo`` on x86 Linux; the device tree's board name and the CPU part on ARM boards, where
``/proc/cpuinfo`` has no model name; ``sysctl`` on macOS), the number of cores, the memory, and the
ONNX Runtime build. rapdarts' run directories record the same CPU name.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .timing import ort_module

DEVICE_TREE_MODELS = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))


def _cpuinfo() -> dict[str, str]:
    """The first value of every key of ``/proc/cpuinfo`` (empty where there is none)."""
    found: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                found.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return found


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _board() -> str:
    for path in DEVICE_TREE_MODELS:
        try:
            return path.read_bytes().rstrip(b"\0").decode(errors="replace").strip()
        except OSError:
            continue
    return ""


def cpu_model() -> str:
    """The CPU's name as the operating system tells it, precise enough to tell boards and laptops apart."""
    info = _cpuinfo()
    if info.get("model name"):
        return info["model name"]
    if platform.system() == "Darwin":
        brand = _sysctl("machdep.cpu.brand_string")
        model = _sysctl("hw.model")
        if brand or model:
            return " ".join(part for part in (brand, model) if part)
    parts = [_board(), info.get("Hardware", "")]
    if info.get("CPU part"):
        parts.append(f"CPU implementer {info.get('CPU implementer', '?')} part {info['CPU part']}")
    described = ", ".join(part for part in parts if part)
    return described or platform.processor() or platform.machine()


def device_name() -> str:
    """The CPU model and platform of this machine, as a table header records it."""
    return f"{cpu_model()} ({platform.machine()}, {platform.system()})"


def memory_gb() -> float | None:
    """Installed memory in GB (rounded to whole GB), or ``None`` where the OS does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return float(round(int(line.split()[1]) / 1024**2))
    except (OSError, ValueError, IndexError):
        pass
    size = _sysctl("hw.memsize")
    return float(round(int(size) / 1024**3)) if size.isdigit() else None


def onnxruntime_build() -> str:
    """ONNX Runtime's version and, where it tells, its build information."""
    ort = ort_module()
    build = getattr(ort, "get_build_info", lambda: "")()
    return f"{ort.__version__} {build}".strip()


def machine_identity() -> dict[str, Any]:
    """What a table's header records of the machine that made it, and what :func:`measured_here` compares."""
    return {"device": device_name(), "cpus": os.cpu_count(), "memory_gb": memory_gb(),
            "onnxruntime": ort_module().__version__, "onnxruntime_build": onnxruntime_build()}


def measured_here(header: Mapping[str, Any]) -> bool:
    """Whether the table of ``header`` was made on this machine with this ONNX Runtime, with an execution provider
    this ONNX Runtime has (so its entries and networks can be timed again here the way the table was).

    Fields a header does not record (tables made before they existed) are not compared.
    """
    identity = machine_identity()
    return all(header.get(key) == value for key, value in identity.items() if key in header) \
        and header.get("provider") in ort_module().get_available_providers()
