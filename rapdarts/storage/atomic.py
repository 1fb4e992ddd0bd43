"""Write files so that a reader never sees half of one: write a temporary sibling, then rename.

The mechanism is the torch-free one of :mod:`rapdarts.ondevice.files` (on-device profiles write
their tables with it too); this module adds JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rapdarts.ondevice.files import atomic_write, atomic_write_text, file_mode

__all__ = ["atomic_write", "atomic_write_json", "atomic_write_text", "file_mode"]


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
