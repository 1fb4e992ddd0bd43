"""Does the machine still run as fast as when the table was made? Re-time the table's reference network.

A table is a snapshot of one moment: on a shared machine the same network times differently minutes
apart, and a neighbour taking a core slows multi-threaded sessions most. Before a figure is judged
against a measurement (validation, ``cost --measure``, a latency budget), the reference network
recorded at profile time is timed again.
"""

from __future__ import annotations

import logging

from rapdarts.costs.target import TargetNetwork
from rapdarts.latency.networks import measure_genotype
from rapdarts.latency.table import LatencyTable
from rapdarts.space.genotype import Genotype

log = logging.getLogger("rapdarts")
DRIFT_WARNING = 0.10
"""A reference now more than this share faster or slower than at profile time is reported."""


def reference_drift(table: LatencyTable) -> float | None:
    """``now / then`` for the table's reference network, or ``None`` when it cannot be re-timed here."""
    record = table.header.get("reference")
    target = table.header.get("target")
    if not record or not target or not table.measured_here():
        return None
    genotype = Genotype.from_dict(record["genotype"], f"reference network of {table.path}")
    timing = measure_genotype(genotype, TargetNetwork.from_dict(target), table.settings, table.calibration_images)
    now = timing.latency_ms
    return now / record.get("latency_ms", record.get("median_ms"))  # tables made before the latency statistic


def warn_if_drifted(table: LatencyTable) -> float | None:
    """Log a warning when the machine runs more than 10% faster or slower than at profile time; return the ratio."""
    ratio = reference_drift(table)
    if ratio is not None and abs(ratio - 1.0) > DRIFT_WARNING:
        log.warning("latency: %s now takes %.0f%% of its time when table %s was made: the machine is %s than it was; "
                    "measured and predicted latency will differ until it is %s again (or profile again now)",
                    table.header["reference"]["name"], 100 * ratio, table.path,
                    "slower" if ratio > 1 else "faster", "quiet" if ratio > 1 else "as busy")
    return ratio
