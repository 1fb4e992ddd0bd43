"""Exclusive locks on run directories and tables, so that no second process writes into one in use.

A lock is ``fcntl.flock`` on a small file holding the owner's process id: the operating system
releases it when the owner exits, however it exits (a ``SIGKILL`` included), so a lock can never
be left behind by a dead run. Where ``fcntl`` does not exist (Windows) locking is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rapdarts.errors import RapdartsError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


@contextmanager
def exclusive(lock_file: str | Path, what: str, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` for the block; a one-line error if another process holds it.

    ``what`` names the locked thing in the error (``run directory runs/x``). With ``remove`` the lock
    file is deleted when released (for locks next to user files).
    """
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                owner = handle.read().strip() or "?"
                raise RapdartsError(f"{what} is in use by another rapdarts process (pid {owner}); wait for it to "
                                    "finish, or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            if remove:
                path.unlink(missing_ok=True)
    finally:
        handle.close()


def is_locked(lock_file: str | Path) -> bool:
    """Whether a live process holds ``lock_file`` (without taking it)."""
    if fcntl is None or not Path(lock_file).exists():
        return False
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False
