"""Files written so that a reader never sees half of one (standard library only).

The data is written to a temporary sibling, flushed to disk and renamed into place, so a table or a
checkpoint is either the old file or the new one, even if the process or the machine dies midway.
rapdarts' own writes (:mod:`rapdarts.storage.atomic`) go through this same function.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, flush it to disk and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(handle, file_mode())
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@functools.lru_cache(maxsize=1)
def file_mode() -> int:
    """The mode ``open()`` would give a new file (``mkstemp`` makes private 0600 files, which other users of a
    shared run directory or table could not read)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))
