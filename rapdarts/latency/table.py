"""Latency lookup tables: loading with validation, header checks, lookups and network predictions.

The file format is written by :mod:`rapdarts.ondevice.tables`, on the host or on a device.
``overhead_ms`` is the per-call cost of ``session.run`` measured with a trivial model; ``calibration``
the per-group scales fitted on whole networks (``None`` for an uncalibrated table). A table whose
``complete`` is false was interrupted and is completed by rerunning the same profile command.
Tables of the first format (before calibration existed) still load, uncalibrated.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.latency.op_latency import network_ops, op_cost, op_group
from rapdarts.ondevice import (
    OLD_STATISTICS,
    OLD_TABLE_FORMATS,
    SAME_MACHINE_KEYS,
    TABLE_FORMAT,
    TimingSettings,
    measured_here,
    table_header,
    write_table,
)
from rapdarts.space.genotype import Genotype, preset

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
        if not isinstance(data, dict) or data.get("format") not in (TABLE_FORMAT, *OLD_TABLE_FORMATS):
            raise RapdartsError(f"{path} is not a rapdarts latency table (format {TABLE_FORMAT!r} expected)")
        header, entries = data.get("header"), data.get("entries")
        if not isinstance(header, dict) or not isinstance(entries, dict):
            raise RapdartsError(f"latency table {path} lacks a header or entries")
        missing = [name for name in HEADER_FIELDS if name not in header]
        if missing:
            raise RapdartsError(f"latency table {path}: header misses {missing[0]!r}")
        _check_header(path, header)
        overhead = header["overhead_ms"]
        if overhead is not None and not _valid_time(overhead):
            raise RapdartsError(f"latency table {path}: overhead_ms {overhead!r} is not a time >= 0")
        for key, entry in entries.items():
            fields = (*TIME_FIELDS, "latency_ms") if isinstance(entry, dict) and "latency_ms" in entry else TIME_FIELDS
            for name in fields:
                if not isinstance(entry, dict) or not _valid_time(entry.get(name)):
                    value = entry.get(name) if isinstance(entry, dict) else entry
                    raise RapdartsError(f"latency table {path}: entry {key!r} has {name} = {value!r}; times must be "
                                        "finite numbers >= 0 (re-profile this op)")
            _check_spec(path, key, entry)
        _check_calibration(path, header.get("calibration"))
        table = cls(path, header, entries)
        if data["format"] == OLD_TABLE_FORMATS[0]:
            log.warning("latency table %s was made by an older rapdarts: it is used uncalibrated (sums of ops timed "
                        "alone); profile again for a calibrated table", path)
            table.header["calibration"] = None
        elif data["format"] != TABLE_FORMAT:
            log.warning("latency table %s was made by an older rapdarts: its entries are %s, not the Harrell-Davis "
                        "10th percentile of block medians every measurement now uses, so they may read a few percent "
                        "off against a measurement; profile again", path, OLD_STATISTICS[data["format"]])
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
        """How the table's entries were timed (so networks are timed the same way)."""
        return TimingSettings.from_dict(self.header)

    @property
    def calibration(self) -> dict[str, Any] | None:
        return self.header.get("calibration")

    def measured_here(self) -> bool:
        """Whether this machine and onnxruntime made the table, with an execution provider it has (so missing ops,
        and networks, may be timed now the way the table was): :func:`rapdarts.ondevice.measured_here`."""
        return measured_here(self.header)

    @property
    def calibration_images(self) -> str | None:
        """For an int8 table: the real images its models were quantized on (its networks are quantized on them
        again when they are timed)."""
        return (self.header.get("int8_calibration") or {}).get("source")

    def reference_genotype(self) -> Genotype:
        """The network the table's timings are referred to: the one its profile timed as reference, else PDARTS."""
        record = self.header.get("reference")
        if record and "genotype" in record:
            return Genotype.from_dict(record["genotype"], f"reference network of {self.path}")
        return preset("PDARTS")

    def check_timable(self) -> None:
        """A one-line error unless networks can be timed here the way this table was measured."""
        if not self.measured_here():
            raise RapdartsError(f"latency table {self.path} was measured on {self.header['device']} with ONNX Runtime "
                                f"{self.header['onnxruntime']} and {self.header['provider']}: networks cannot be "
                                "timed here the same way; time them on that device (rapdarts export-ops)")

    def describe_origin(self) -> str:
        """Where and how the table was measured, for reports."""
        h = self.header
        calibrated = "calibrated" if self.calibration else "uncalibrated"
        return (f"{calibrated} {self.settings.precision} table measured on {h['device']} with ONNX Runtime "
                f"{h['onnxruntime']}, {h['provider']}, {h['intra_threads']} thread(s), optimisation "
                f"{h['optimization']}, batch {h['batch']}")

    def same_settings(self, other: dict[str, Any]) -> bool:
        return all(self.header.get(key) == other.get(key) for key in SAME_MACHINE_KEYS)

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
        """An op measured on demand: outside the profiled target, so the calibration does not apply to it."""
        self.entries[spec.key()] = {"spec": spec.to_dict(), "group": op_group(spec), "on_demand": True, **timing}

    def cost(self, spec: OpSpec) -> float | None:
        """The (calibrated) cost of ``spec`` inside a network, or ``None`` if the table lacks it."""
        entry = self.lookup(spec)
        return None if entry is None else op_cost(self.header, entry)

    def predict(self, genotype: Genotype, target: TargetNetwork) -> float:
        """The table's latency (ms) of the whole network of ``genotype``: the sum of its ops' costs.

        This is what the ``latency`` cost adds up, so every command reports this same number. Ops the
        table lacks are a one-line error naming the first.
        """
        total = 0.0
        for key, count in network_ops(target, genotype).items():
            entry = self.entries.get(key)
            if entry is None:
                raise RapdartsError(f"op {key} of the network is missing from latency table {self.path}")
            total += count * op_cost(self.header, entry)
        return total


def _check_calibration(path: Path, fitted: Any) -> None:
    if fitted is None:
        return
    scales = fitted.get("scales") if isinstance(fitted, dict) else None
    if not isinstance(scales, dict) or not all(_valid_time(value) for value in scales.values()):
        raise RapdartsError(f"latency table {path}: its calibration has no valid scales (numbers >= 0); profile again")


def _check_spec(path: Path, key: str, entry: dict[str, Any]) -> None:
    """An entry's spec must describe the op its key names (a hand-edited table could price the wrong op)."""
    try:
        spec = OpSpec(**entry["spec"])
        matches = spec.key() == key
    except (KeyError, TypeError, ValueError):
        matches = False
    if not matches:
        raise RapdartsError(f"latency table {path}: entry {key!r} has a missing or malformed spec "
                            f"({entry.get('spec')!r}); re-profile this op")


def _check_header(path: Path, header: dict[str, Any]) -> None:
    """The settings a table is priced with must be ones ONNX Runtime knows: a typo is named, not used silently."""
    import onnxruntime

    provider = header["provider"]
    if provider not in onnxruntime.get_all_providers():
        raise RapdartsError(f"latency table {path}: provider {provider!r} is not an ONNX Runtime execution provider "
                            "(e.g. CPUExecutionProvider); profile again")
    for name, least in (("batch", 1), ("intra_threads", 0)):
        value = header[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise RapdartsError(f"latency table {path}: header {name} = {value!r} must be an integer >= {least}; "
                                "profile again")
    if header["dtype"] not in ("float32", "float16", "bfloat16", "float64"):
        raise RapdartsError(f"latency table {path}: dtype {header['dtype']!r} is not a tensor type (float32, "
                            "float16, bfloat16, float64); profile again")


def _valid_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
