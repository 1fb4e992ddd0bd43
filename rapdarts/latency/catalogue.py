"""A per-user catalogue of latency tables, by name: ``rapdarts profile --name pi5``, then ``--cost latency@pi5``.

The catalogue is a directory of table files, ``NAME.json`` each (``$RAPDARTS_TABLES_DIR``, else
``$XDG_DATA_HOME/rapdarts/tables``, else ``~/.local/share/rapdarts/tables``). A table made on a
device with ``profile_ops.py`` drops into it with ``rapdarts tables add FILE --name pi5`` (a copy,
checked first). ``rapdarts tables`` lists what it holds: device, precision, threads, execution
provider, date and how the table did on held-out networks.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from rapdarts.errors import RapdartsError
from rapdarts.latency.table import LatencyTable

ENVIRONMENT = "RAPDARTS_TABLES_DIR"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def catalogue_dir() -> Path:
    """Where named tables live."""
    if os.environ.get(ENVIRONMENT):
        return Path(os.environ[ENVIRONMENT])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "rapdarts" / "tables"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.endswith(".json"):
        raise RapdartsError(f"table name {name!r}: use letters, digits, '_', '-' and '.' (e.g. pi5, server-2t); it "
                            "names the target in --cost latency@NAME")
    return name


def path_of(name: str) -> Path:
    """Where the table called ``name`` is (or will be) stored."""
    return catalogue_dir() / f"{check_name(name)}.json"


def find(name: str) -> Path | None:
    """The stored table called ``name``, or ``None``."""
    path = path_of(name)
    return path if path.is_file() else None


def require(name: str, option: str) -> Path:
    """The stored table called ``name``, or a one-line error saying how to make it or name a file instead."""
    path = find(name)
    if path is None:
        known = ", ".join(entry["name"] for entry in entries()) or "none"
        raise RapdartsError(f"unknown target {name!r}: the table catalogue ({catalogue_dir()}) has no table named "
                            f"{name!r} (it has: {known}); make one with 'rapdarts profile --name {name}', add one with "
                            f"'rapdarts tables add FILE --name {name}', or give --cost-option {option}=FILE")
    return path


def add(table_file: str | Path, name: str, replace: bool = False) -> Path:
    """Copy a table into the catalogue under ``name`` (it is loaded and checked first)."""
    table = LatencyTable.load(table_file)
    if not table.header.get("complete"):
        raise RapdartsError(f"latency table {table_file} is incomplete; finish its profile before adding it")
    destination = path_of(name)
    if destination.exists() and not replace:
        raise RapdartsError(f"the catalogue already has a table named {name!r} ({destination}); choose another name "
                            "or pass --replace")
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.tmp")
    shutil.copyfile(table_file, temporary)
    os.replace(temporary, destination)
    return destination


def describe(path: Path) -> dict[str, Any]:
    """One catalogue row: name, device, precision, threads, provider, date, held-out accuracy."""
    table = LatencyTable.load(path)
    h = table.header
    held = (table.calibration or {}).get("held_out") or {}
    floor = h.get("noise_floor") or {}
    return {"name": path.stem, "device": h["device"], "precision": table.settings.precision,
            "threads": h["intra_threads"], "provider": h["provider"], "date": h.get("date", "?"),
            "target": (h.get("target") or {}), "held_out_within_5pct": held.get("within_5pct"),
            "held_out_within_10pct": held.get("within_10pct"), "noise_floor_sd": floor.get("sd"),
            "path": str(path)}


def entries() -> list[dict[str, Any]]:
    """Every stored table, by name; a file that is not a valid table is listed with its problem."""
    rows = []
    for path in sorted(catalogue_dir().glob("*.json")) if catalogue_dir().is_dir() else ():
        try:
            rows.append(describe(path))
        except RapdartsError as error:
            rows.append({"name": path.stem, "error": str(error), "path": str(path)})
    return rows
