"""Op latency (ms) looked up in a table measured with ONNX Runtime on the target, and a provider made of it.

A provider made by :func:`table_latency_provider` reads its options under its own name (``NAME.KEY``):

* ``NAME.table=FILE``: the table (``rapdarts profile --out FILE``, or made on a device with
  ``rapdarts export-ops``). Without it, a per-machine table in the ``latency`` cache directory is
  used and filled on demand.
* ``NAME.measure=auto|never``: measure ops missing from the table now (``auto``, only if the
  table was measured on this machine with this onnxruntime) or fail naming the missing op.
* ``NAME.provider``, ``NAME.threads``, ``NAME.optimization``: ONNX Runtime settings for a new table
  (an existing table's own settings win; asking for different ones is an error).

The fixed per-call overhead of ``session.run`` is measured once per table and counted once per
network (with the stem); every other op costs its median minus that overhead, scaled by the
table's calibration (:mod:`rapdarts.latency.op_latency`). Ops measured on demand are outside the
calibrated target and cost their raw time; the first one is logged as a warning. The provider
declares a :class:`TableMeasurer`, so budgets and reports can time whole networks the way the
table was measured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from rapdarts import ondevice
from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.latency import catalogue
from rapdarts.latency.maker import measure_overhead, measure_spec
from rapdarts.latency.op_latency import network_ops, op_cost
from rapdarts.latency.table import LatencyTable
from rapdarts.plugins.provider import CostProvider, Measurement
from rapdarts.runtime import distributed
from rapdarts.space.genotype import Genotype
from rapdarts.space.ops import is_zero
from rapdarts.storage.paths import cache_dir

log = logging.getLogger("rapdarts")
MEASURE_MODES = ("auto", "never")
SETTING_OPTIONS = {"provider": "provider", "threads": "intra_threads", "optimization": "optimization",
                   "precision": "precision"}
"""Option key -> table header field of the ONNX Runtime settings a table is checked against."""
MEASURE_SESSIONS = 10
"""Rounds (fresh sessions per network) of a measurement of whole networks, at the least."""


def default_table_path(settings: ondevice.TimingSettings) -> Path:
    """A per-machine table under the cache directory, distinct per device and ONNX Runtime setting."""
    identity = {**ondevice.machine_identity(), "provider": settings.provider, "threads": settings.intra_threads,
                "optimization": settings.optimization}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir("latency") / f"table-{digest}.json"


class LatencyLookup:
    """Looks ops up in one table, measuring missing ones when allowed; thread-safe.

    ``requested`` are the ONNX Runtime settings of a new table; ``checked`` names the header fields
    the user asked for explicitly, which an existing table must match.
    """

    def __init__(self, path: Path | None = None, requested: ondevice.TimingSettings = ondevice.TimingSettings(),
                 checked: Sequence[str] = (), measure: str = "auto"):
        if measure not in MEASURE_MODES:
            raise RapdartsError(f"measure={measure!r}: choose auto or never")
        self.requested = requested
        self.checked = tuple(checked)
        self.measure = measure
        self.explicit = path is not None
        self.path = path if path is not None else default_table_path(requested)
        self._table: LatencyTable | None = None
        self._lock = threading.RLock()
        self._warned_uncalibrated = False

    @classmethod
    def from_options(cls, options: Mapping[str, str], prefix: str, target: str = "") -> LatencyLookup:
        """The lookup the ``PREFIX.*`` options describe (see the module docstring). For an instance
        (``target`` set, ``latency@pi5``) without a table option, the catalogue's table named ``target``."""
        shown = f"{prefix}@{target}" if target else prefix
        defaults = ondevice.TimingSettings()
        try:
            requested = ondevice.TimingSettings(
                provider=options.get(f"{prefix}.provider", defaults.provider),
                intra_threads=int(options.get(f"{prefix}.threads", defaults.intra_threads)),
                optimization=options.get(f"{prefix}.optimization", defaults.optimization),
                warmup=int(options.get(f"{prefix}.warmup", defaults.warmup)),
                repeats=int(options.get(f"{prefix}.repeats", defaults.repeats)),
                sessions=int(options.get(f"{prefix}.sessions", defaults.sessions)),
                precision=options.get(f"{prefix}.precision", defaults.precision))
        except ValueError as error:
            raise RapdartsError(f"{shown} options: {error}") from None
        if requested.precision not in ondevice.PRECISIONS:
            raise RapdartsError(f"{shown}.precision={requested.precision!r}: choose one of "
                                f"{', '.join(ondevice.PRECISIONS)}")
        measure = options.get(f"{prefix}.measure", "auto")
        if measure not in MEASURE_MODES:
            raise RapdartsError(f"{shown}.measure={measure!r}: choose auto or never")
        given = options.get(f"{prefix}.table")
        if not given and target:
            given = str(catalogue.require(target, f"{shown}.table"))
        checked = [field for key, field in SETTING_OPTIONS.items() if f"{prefix}.{key}" in options]
        return cls(Path(given) if given else None, requested, checked, measure)

    def table(self) -> LatencyTable:
        """The table, loaded (or started empty, for on-demand measurement) on first use."""
        if self._table is None:
            if self.path.exists():
                table = LatencyTable.load(self.path)
                for key in self.checked:
                    wanted, measured = getattr(self.requested, key), getattr(table.settings, key)
                    if measured != wanted:
                        raise RapdartsError(f"latency table {self.path} was measured with {key} {measured!r}, but "
                                            f"{wanted!r} is asked for; profile again with the matching setting or "
                                            "drop the option")
                self._table = table
            elif self.explicit:
                raise RapdartsError(f"latency table {self.path} does not exist; create it with 'rapdarts profile "
                                    f"--out {self.path}' (or drop the table option to measure on demand)")
            else:
                table = LatencyTable.empty(self.path, self.requested, 1, "float32", "rapdarts latency (on demand)")
                table.header["overhead_ms"] = measure_overhead(self.requested)
                table.header["complete"] = True
                self._table = table
        return self._table

    def version(self) -> str:
        return str(self.path)

    def cost(self, spec: OpSpec) -> float:
        """The calibrated cost (ms) of one op inside a network; missing ops are measured when allowed."""
        if is_zero(spec.op):
            return 0.0
        with self._lock:
            table = self.table()
            return op_cost(table.header, self._entry(table, spec))

    def predict(self, genotype: Genotype, target: TargetNetwork) -> float:
        """The latency (ms) of the whole network of ``genotype``: the sum the table's cost gives."""
        with self._lock:
            table = self.table()
            return sum(count * op_cost(table.header, self._entry(table, spec))
                       for spec, count in _specs_with_counts(target, genotype))

    def _entry(self, table: LatencyTable, spec: OpSpec) -> dict:
        if table.header["batch"] != spec.batch and table.entries:
            raise RapdartsError(f"latency table {self.path} was measured at batch {table.header['batch']}, but "
                                f"costs are asked at batch {spec.batch}; profile with --batch {spec.batch} or set "
                                f"the cost batch to {table.header['batch']}")
        table.header["batch"] = spec.batch
        table.check_compatible(dtype=spec.dtype)
        entry = table.lookup(spec)
        if entry is None:
            entry = self._measure_missing(table, spec)
        if entry.get("on_demand") and table.calibration and not self._warned_uncalibrated:
            self._warned_uncalibrated = True
            target = (table.header.get("target") or {})
            log.warning("latency: %s is outside the network latency table %s was calibrated for (C=%s, %s cells): its "
                        "cost is uncalibrated; profile the network you price: 'rapdarts profile' with its shape",
                        spec.describe(), self.path, target.get("init_channels", "?"), target.get("cells", "?"))
        return entry

    def target_note(self, target: TargetNetwork) -> str | None:
        """A warning when the table's calibration was fitted for another network than ``target``: its scales
        would be applied to a network they were not fitted on."""
        table = self.table()
        fitted = table.header.get("target")
        if not table.calibration or not fitted:
            return None
        profiled = TargetNetwork.from_dict(fitted)
        if profiled == target:
            return None
        return (f"latency table {self.path} was calibrated for the {profiled.describe()}, but the "
                f"{target.describe()} is priced: its calibration is applied to a network it was not fitted on; "
                "profile the network you price ('rapdarts profile' with its shape)")

    def _measure_missing(self, table: LatencyTable, spec: OpSpec) -> dict:
        if self._reload(table, spec):
            return table.lookup(spec)
        if not distributed.current().main:
            raise RapdartsError(f"op {spec.describe()} is missing from latency table {self.path} on rank "
                                f"{distributed.current().rank}: only rank 0 measures ops and writes the table (it "
                                "prices the search space before the other ranks start); rerun the search")
        if table.settings.precision != "fp32":
            raise RapdartsError(f"op {spec.describe()} is missing from the {table.settings.precision} latency table "
                                f"{self.path}: quantized tables are not extended on demand (each op is quantized on "
                                "real activations when the table is made); profile the network you price")
        if self.measure == "never" or not table.measured_here():
            raise RapdartsError(
                f"op {spec.describe()} is missing from latency table {self.path} (measured on "
                f"{table.header['device']}); profile the target network there: 'rapdarts export-ops DIR' with the "
                "same network options, then 'python DIR/profile_ops.py DIR' on the device (on this machine: "
                "'rapdarts profile', or the measure=auto option)")
        timing = measure_spec(spec, table.settings)
        table.add(spec, timing)
        table.save()
        return table.lookup(spec)

    def _reload(self, table: LatencyTable, spec: OpSpec) -> bool:
        """Whether the table on disk has ``spec`` meanwhile (another process, rank 0, measured it); it is merged in."""
        if not self.path.exists():
            return False
        on_disk = LatencyTable.load(self.path)
        if on_disk.lookup(spec) is None:
            return False
        table.entries.update({k: v for k, v in on_disk.entries.items() if k not in table.entries})
        return True


class TableMeasurer:
    """Times whole networks the way a latency table was measured (a :class:`~rapdarts.plugins.provider.Measurer`).

    Only a table made on this machine (same CPU, ONNX Runtime and execution provider) can be checked
    here; for one made on another device (``export-ops``) :meth:`unavailable` says so, and budgets
    are judged on its calibrated prediction. Before the first measurement the table's reference
    network is timed again, and a machine that has drifted since the table was made is reported.
    """

    def __init__(self, lookup: LatencyLookup):
        self.lookup = lookup
        self._drift_checked = False

    def where(self) -> str:
        return f"latency measured on this machine, as the {self.lookup.table().describe_origin()}"

    def unavailable(self) -> str | None:
        table = self.lookup.table()
        if table.measured_here():
            return None
        return (f"the latency table {table.path} was measured on {table.header['device']}, not here: it is judged on "
                "its calibrated prediction")

    def measure(self, networks: Sequence[tuple[str, Genotype]], target: TargetNetwork) -> dict[str, Measurement]:
        """The latency statistic of each network, timed with the table's settings in interleaved rounds together
        with the table's reference network, whose independent estimates give each measurement its noise floor."""
        from rapdarts.latency.drift import warn_if_drifted
        from rapdarts.latency.networks import measure_with_floor

        table = self.lookup.table()
        table.check_timable()
        if not self._drift_checked:
            self._drift_checked = True
            warn_if_drifted(table)
        # A verdict rests on this figure: at least as many rounds as a table entry had.
        settings = dataclasses.replace(table.settings, sessions=max(table.settings.sessions, MEASURE_SESSIONS))
        timings, floor = measure_with_floor(networks, target, settings, table.reference_genotype(),
                                            calibration=table.calibration_images)
        noise = ondevice.scaled_sd(floor, settings.sessions)
        return {name: Measurement(timing.latency_ms, timing.noisy, timing.spread, noise,
                                  {"blocks_ms": timing.blocks_ms, "noise_floor": floor, "settings": settings.to_dict()})
                for name, timing in timings.items()}

    def combine(self, measurements: Sequence[Measurement]) -> Measurement:
        """Several measurements of one network pooled: the latency statistic over all their blocks, and the noise
        of an estimate that many rounds long (with the largest floor any of them measured)."""
        blocks = [session for m in measurements for session in m.details["blocks_ms"]]
        timing = ondevice.Timing(blocks, noisy=any(m.noisy for m in measurements))
        rounds = len(measurements[0].details["blocks_ms"])
        noise = max(m.noise for m in measurements) * (rounds / len(blocks)) ** 0.5
        return Measurement(timing.latency_ms, timing.noisy, timing.spread, noise,
                           {"blocks_ms": blocks, "calls": len(measurements)})


def _specs_with_counts(target: TargetNetwork, genotype: Genotype) -> list[tuple[OpSpec, int]]:
    specs = {spec.key(): spec for spec in target.genotype_specs(genotype)}
    return [(specs[key], count) for key, count in network_ops(target, genotype).items()]


def table_latency_provider(name: str, options: Mapping[str, str], order: int = 100, target: str = "") -> CostProvider:
    """A latency cost called ``name``, priced from the table its ``NAME.*`` options describe (for an instance
    ``NAME@TARGET`` without a table option: the catalogue's table named ``TARGET``), measured like it."""
    lookup = LatencyLookup.from_options(options, name, target)
    return CostProvider(name, "ms", "ONNX Runtime latency from a per-op lookup table measured on the target",
                        lookup.cost, version=lookup.version(), cacheable=False, quantity="latency",
                        measurer=TableMeasurer(lookup), order=order, target_note=lookup.target_note)
