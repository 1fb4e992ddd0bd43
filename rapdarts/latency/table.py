"""Latency lookup tables: loading with validation, header checks and lookups.

The file format (written by :func:`rapdarts.deploy.ondevice.write_table`, on the host or on a device)::

    {"format": "rapdarts-latency-table/1",
     "header": {"device", "onnxruntime", "provider", "intra_threads", "optimization", "batch",
                "dtype", "date", "overhead_ms", "complete", "entries_expected", ...},
     "entries": {"<op spec key>": {"spec": {...}, "median_ms", "p10_ms", "p90_ms", "iqr_ms", ...}}}

``overhead_ms`` is the per-call cost of ``session.run`` measured with a trivial model. A table whose
``complete`` is false was interrupted and is completed by rerunning the same profile command.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapdarts.costs.spec import OpSpec
from rapdarts.deploy.ondevice import TABLE_FORMAT, TimingSettings, device_name, table_header, write_table
from rapdarts.errors import RapdartsError

log = logging.getLogger("rapdarts")
HEADER_FIELDS = ("device", "onnxruntime", "provider", "intra_threads", "optimization", "batch", "dtype",
                 "overhead_ms", "complete")
TIME_FIELDS = ("median_ms", "p10_ms", "p90_ms")


@dataclass
class LatencyTable:
    """Measured op latencies (ms) keyed by :meth:`OpSpec.key`, with where they were measured."""

    path: Path
    header: dict[str, Any]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read and validate a table; corrupt, truncated or implausible files are one-line errors."""
        path = Path(path)
        if not path.is_file():
            raise RapdartsError(f"latency table {path} does not exist; create it with 'rapdarts profile --out {path}'")
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise RapdartsError(f"latency table {path} is corrupt or truncated ({error}); profile again") from None
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise RapdartsError(f"{path} is not a rapdarts latency table (format {TABLE_FORMAT!r} expected)")
        header, entries = data.get("header"), data.get("entries")
        if not isinstance(header, dict) or not isinstance(entries, dict):
            raise RapdartsError(f"latency table {path} lacks a header or entries")
        missing = [name for name in HEADER_FIELDS if name not in header]
        if missing:
            raise RapdartsError(f"latency table {path}: header misses {missing[0]!r}")
        overhead = header["overhead_ms"]
        if overhead is not None and not _valid_time(overhead):
            raise RapdartsError(f"latency table {path}: overhead_ms {overhead!r} is not a time >= 0")
        for key, entry in entries.items():
            for name in TIME_FIELDS:
                if not isinstance(entry, dict) or not _valid_time(entry.get(name)):
                    value = entry.get(name) if isinstance(entry, dict) else entry
                    raise RapdartsError(f"latency table {path}: entry {key!r} has {name} = {value!r}; times must be "
                                        "finite numbers >= 0 (re-profile this op)")
        table = cls(path, header, entries)
        if not header["complete"]:
            log.warning("latency table %s is incomplete (%d of %s entries): an interrupted profile; rerun the same "
                        "'rapdarts profile' command to complete it", path, len(entries), header.get("entries_expected"))
        return table

    @classmethod
    def empty(cls, path: str | Path, settings: TimingSettings, batch: int, dtype: str, created_by: str) -> LatencyTable:
        return cls(Path(path), table_header(settings, batch, dtype, 0, created_by))

    def save(self) -> None:
        write_table(self.path, self.header, self.entries)

    @property
    def settings(self) -> TimingSettings:
        h = self.header
        return TimingSettings(h["provider"], h["intra_threads"], h.get("inter_threads", 1), h["optimization"],
                              h.get("warmup", 10), h.get("repeats", 50), h.get("sessions", 3))

    def measured_here(self) -> bool:
        """Whether this machine and onnxruntime made the table (so missing ops may be measured now)."""
        import onnxruntime

        return self.header["device"] == device_name() and self.header["onnxruntime"] == onnxruntime.__version__

    def check_compatible(self, provider: str | None = None, batch: int | None = None,
                         dtype: str | None = None) -> None:
        """Error if the table was measured for another execution provider, batch or dtype."""
        wanted = {"provider": provider, "batch": batch, "dtype": dtype}
        for name, value in wanted.items():
            if value is not None and self.header[name] != value:
                raise RapdartsError(f"latency table {self.path} was measured with {name} {self.header[name]!r}, "
                                    f"but {value!r} is asked for; profile again with the matching setting")

    def lookup(self, spec: OpSpec) -> dict[str, Any] | None:
        return self.entries.get(spec.key())

    def add(self, spec: OpSpec, timing: dict[str, Any]) -> None:
        self.entries[spec.key()] = {"spec": spec.to_dict(), **timing}


def _valid_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
