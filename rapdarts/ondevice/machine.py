"""Which machine this is: the one place a latency table's device identity is read (standard library only).

A table is only extended, and networks are only timed against it, on the machine that made it, so
its identity must tell real machines apart; rapdarts' run directories record the same CPU name.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any

from .timing import ort_module


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name() -> str:
    """The CPU model and platform of this machine, as a table header records it."""
    return f"{cpu_model()} ({platform.machine()}, {platform.system()})"


def machine_identity() -> dict[str, Any]:
    """What a table's header records of the machine that made it, and what :func:`measured_here` compares."""
    return {"device": device_name(), "onnxruntime": ort_module().__version__}


def measured_here(header: Mapping[str, Any]) -> bool:
    """Whether the table of ``header`` was made on this machine with this ONNX Runtime, with an execution provider
    this ONNX Runtime has (so its entries and networks can be timed again here the way the table was)."""
    identity = machine_identity()
    return all(header.get(key) == value for key, value in identity.items()) \
        and header.get("provider") in ort_module().get_available_providers()
