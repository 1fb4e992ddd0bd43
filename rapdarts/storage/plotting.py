"""matplotlib, chosen lazily and without a display, and figures written atomically.

Every plot of the package goes through :func:`pyplot` (the Agg backend is selected when the first
plot is drawn, never at import) and :func:`save_figure` (a PNG written to a temporary file and
renamed, so a reader never sees half an image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rapdarts.storage.atomic import atomic_write


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically and close it."""
    path = Path(path)
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=110, bbox_inches="tight"))
    pyplot().close(figure)
    return path
