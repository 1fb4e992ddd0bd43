"""Tie a worker process's life to its parent's, so no orphan goes on writing after its job was killed.

Used by sweep workers and by the ranks ``torchrun`` starts: torchrun puts each rank in a session of
its own, so a launcher killed with ``SIGKILL`` (a scheduler's hard stop, ``kill -9``) would leave its
ranks running, still writing into a run directory that a resume is about to use.
"""

from __future__ import annotations

import os
import signal
import threading
import time


def exit_with_parent(signal_number: int = signal.SIGTERM) -> None:
    """End this process when the process that started it dies, however it dies.

    On Linux the kernel sends ``signal_number`` on the parent's death (``PR_SET_PDEATHSIG``);
    elsewhere, and as a second line, a daemon thread notices the re-parenting and exits. A parent
    that died before this call is noticed by the thread within a second.
    """
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal_number)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="rapdarts-parent-watch").start()
