"""Output paths checked before any work starts: a path that cannot be written is a one-line error.

Minutes of searching, profiling or training must not end in an internal error because ``--out``
points under a regular file or into a read-only directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rapdarts.errors import RapdartsError


def check_output(path: str | Path, option: str, directory: bool = False) -> Path:
    """``path`` as a :class:`Path` if it can be created (or written), else a one-line error naming ``option``.

    ``directory`` says whether ``path`` is to be a directory (a run directory) or a file.
    """
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise RapdartsError(f"{option} {path} is a file, not a directory; choose another path")
        if not directory and path.is_dir():
            raise RapdartsError(f"{option} {path} is a directory; give a file name")
        if not _can_create_in(path if directory else path.parent):
            raise RapdartsError(f"{option} {path} is not writable; choose another path")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RapdartsError(f"{option} {path} cannot be created: {ancestor} is a file, not a directory")
    if not _can_create_in(ancestor):
        raise RapdartsError(f"{option} {path} cannot be created: {ancestor} is not writable")
    return path


def _can_create_in(directory: Path) -> bool:
    """Whether a file can be created in ``directory``: tried, not inferred from permission bits (which say yes
    to root on a read-only mount or in ``/proc``)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


CACHE_ENV = "RAPDARTS_CACHE_DIR"


def cache_dir(kind: str) -> Path:
    """Where rapdarts keeps its cache of ``kind`` (``costs``, ``latency``): ``$RAPDARTS_CACHE_DIR/KIND``, by default
    ``~/.cache/rapdarts/KIND``. One root for every cache, so one variable moves them all (tests, shared machines)."""
    import os

    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rapdarts") / kind
