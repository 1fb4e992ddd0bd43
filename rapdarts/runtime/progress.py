"""Progress bars (tqdm) that log cleanly alongside and disappear when not wanted.

tqdm is used rather than hand-written bars because it estimates rates and ETA, handles
non-terminals, and cooperates with :mod:`logging` through ``logging_redirect_tqdm``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True, initial: int = 0) -> Iterator[Any]:
    """A bar over ``total`` steps with rate and ETA, or a no-op object when ``enabled`` is false."""
    if not enabled:
        yield _Silent()
        return
    with tqdm(total=total, initial=initial, desc=description, unit="step", file=sys.stderr,
              dynamic_ncols=True, leave=True) as bar:
        yield bar


@contextmanager
def logs_above_bars() -> Iterator[None]:
    """Print ``rapdarts`` log lines above active progress bars instead of through them."""
    import logging

    with logging_redirect_tqdm(loggers=[logging.getLogger("rapdarts")]):
        yield
