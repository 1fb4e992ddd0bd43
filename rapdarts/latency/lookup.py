"""Op latency (ms) looked up in a table measured with ONNX Runtime on the target, and its provider.

Options (``--cost-option KEY=VALUE``):

* ``latency.table=FILE``: the table (``rapdarts profile --out FILE``, or made on a device with
  ``rapdarts export-ops``). Without it, a per-machine table in ``~/.cache/rapdarts/latency`` is used
  and filled on demand.
* ``latency.measure=auto|never``: measure ops missing from the table now (``auto``, only if the
  table was measured on this machine with this onnxruntime) or fail naming the missing op.
* ``latency.provider``, ``latency.threads``, ``latency.optimization``: ONNX Runtime settings for a
  new table (an existing table's own settings win; asking for different ones is an error).

The fixed per-call overhead of ``session.run`` is measured once per table and counted once per
network (with the stem); every other op costs its median minus that overhead, scaled by the
table's calibration (:mod:`rapdarts.latency.calibration`). Ops measured on demand are outside the
calibrated target and cost their raw time; the first one is logged as a warning. The built-in
``latency`` plugin (``cost_plugins/latency.py``) registers :func:`latency_provider`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from rapdarts.costs.provider import CostProvider
from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.deploy.ondevice import TimingSettings, device_name
from rapdarts.errors import RapdartsError
from rapdarts.latency.calibration import network_ops, op_cost
from rapdarts.latency.profile import measure_overhead, measure_spec
from rapdarts.latency.table import LatencyTable
from rapdarts.space.genotype import Genotype

log = logging.getLogger("rapdarts")
NAME = "latency"


def default_table_path(settings: TimingSettings) -> Path:
    """A per-machine table under the cache directory, distinct per device and ONNX Runtime setting."""
    import onnxruntime

    identity = f"{device_name()}|{onnxruntime.__version__}|{settings.provider}|{settings.intra_threads}|" \
               f"{settings.optimization}"
    digest = hashlib.sha1(identity.encode()).hexdigest()[:12]
    root = Path(os.environ.get("RAPDARTS_CACHE_DIR") or Path.home() / ".cache" / "rapdarts") / "latency"
    return root / f"table-{digest}.json"


class LatencyLookup:
    """Looks ops up in one table, measuring missing ones when allowed; thread-safe."""

    def __init__(self, options: Mapping[str, str]):
        self.options = dict(options)
        self.measure = self.options.get("latency.measure", "auto")
        if self.measure not in ("auto", "never"):
            raise RapdartsError(f"latency.measure={self.measure!r}: choose auto or never")
        defaults = TimingSettings()
        try:
            self.requested = TimingSettings(
                provider=self.options.get("latency.provider", defaults.provider),
                intra_threads=int(self.options.get("latency.threads", defaults.intra_threads)),
                optimization=self.options.get("latency.optimization", defaults.optimization),
                warmup=int(self.options.get("latency.warmup", defaults.warmup)),
                repeats=int(self.options.get("latency.repeats", defaults.repeats)),
                sessions=int(self.options.get("latency.sessions", defaults.sessions)))
        except ValueError as error:
            raise RapdartsError(f"latency options: {error}") from None
        given = self.options.get("latency.table")
        self.path = Path(given) if given else default_table_path(self.requested)
        self.explicit = given is not None
        self._table: LatencyTable | None = None
        self._lock = threading.RLock()
        self._warned_uncalibrated = False

    def table(self) -> LatencyTable:
        """The table, loaded (or started empty, for on-demand measurement) on first use."""
        if self._table is None:
            if self.path.exists():
                self._table = LatencyTable.load(self.path)
                for key, wanted in (("provider", self.requested.provider),
                                    ("intra_threads", self.requested.intra_threads),
                                    ("optimization", self.requested.optimization)):
                    if f"latency.{'threads' if key == 'intra_threads' else key}" in self.options and \
                            self._table.header[key] != wanted:
                        raise RapdartsError(f"latency table {self.path} was measured with {key} "
                                            f"{self._table.header[key]!r}, but {wanted!r} is asked for; profile "
                                            "again with the matching setting or drop the option")
            elif self.explicit:
                raise RapdartsError(f"latency table {self.path} does not exist; create it with 'rapdarts profile "
                                    f"--out {self.path}' (or drop latency.table to measure on demand)")
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
        if spec.op == "none":
            return 0.0
        with self._lock:
            table = self.table()
            return op_cost(table.header, self._entry(table, spec))

    def predict(self, genotype: Genotype, target: TargetNetwork) -> float:
        """The latency (ms) of the whole network of ``genotype``: the sum the ``latency`` cost gives."""
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

    def _measure_missing(self, table: LatencyTable, spec: OpSpec) -> dict:
        if self.measure == "never" or not table.measured_here():
            raise RapdartsError(
                f"op {spec.describe()} is missing from latency table {self.path} (measured on "
                f"{table.header['device']}); profile the target network there: 'rapdarts export-ops DIR' with the "
                "same network options, then 'python DIR/profile_ops.py DIR' on the device (on this machine: "
                "'rapdarts profile', or latency.measure=auto)")
        timing = measure_spec(spec, table.settings)
        table.add(spec, timing)
        table.save()
        return table.lookup(spec)


def _specs_with_counts(target: TargetNetwork, genotype: Genotype) -> list[tuple[OpSpec, int]]:
    specs = {spec.key(): spec for spec in target.genotype_specs(genotype)}
    return [(specs[key], count) for key, count in network_ops(target, genotype).items()]


def latency_provider(options: Mapping[str, str]) -> CostProvider:
    """The ``latency`` cost, configured by the ``latency.*`` options."""
    lookup = LatencyLookup(options)
    return CostProvider(NAME, "ms", "ONNX Runtime latency from a per-op lookup table measured on the target",
                        lookup.cost, version=lookup.version(), cacheable=False)
