"""Timing ONNX models with ONNX Runtime and writing calibrated latency tables; needs only onnxruntime and numpy.

This package imports nothing from rapdarts or torch (its modules import each other relatively), so
it runs on a device that has neither: ``rapdarts export-ops DIR`` writes the op models, whole
calibration networks, a manifest, a copy of this package and a ``profile_ops.py`` launcher into
``DIR``; on the device run ``python DIR/profile_ops.py DIR``; copy ``DIR/latency_table.json`` back
and pass it to the ``latency`` cost (``--cost-option latency.table=...``). rapdarts itself profiles
with the same code, so host and device measure identically.
"""

from .calibration import agreement, entry_latency, fit_scales, network_features, nnls, predict
from .machine import cpu_model, device_name, machine_identity, measured_here
from .maker import MIN_FIT, MIN_HELD_OUT, main, print_progress, table_from_export
from .statistic import (
    STATISTIC,
    Timing,
    latency_of,
    noise_floor,
    relative_range,
    relative_sd,
    rounds_to_agree,
    scaled_sd,
    spread,
)
from .tables import (
                     MANIFEST_FORMAT,
                     OLD_STATISTICS,
                     OLD_TABLE_FORMATS,
                     SAME_MACHINE_KEYS,
                     TABLE_FORMAT,
                     cache_sizes,
                     table_header,
                     write_table,
)
from .timing import (
                     OPTIMIZATION_LEVELS,
                     PRECISIONS,
                     REFERENCE_COPIES,
                     ProfilingError,
                     TimingSettings,
                     check_settings,
                     make_session,
                     run_session,
                     time_model,
                     time_models,
                     time_with_floor,
)

__all__ = [
    "agreement", "entry_latency", "fit_scales", "network_features", "nnls", "predict",
    "cpu_model", "device_name", "machine_identity", "measured_here",
    "MIN_FIT", "MIN_HELD_OUT", "main", "print_progress", "table_from_export",
    "MANIFEST_FORMAT", "OLD_STATISTICS", "OLD_TABLE_FORMATS", "SAME_MACHINE_KEYS", "TABLE_FORMAT", "cache_sizes",
    "table_header", "write_table",
    "STATISTIC", "Timing", "latency_of", "noise_floor", "relative_range", "relative_sd", "rounds_to_agree",
    "scaled_sd", "spread",
    "OPTIMIZATION_LEVELS", "PRECISIONS", "REFERENCE_COPIES", "ProfilingError", "TimingSettings", "check_settings",
    "make_session", "run_session", "time_model", "time_models", "time_with_floor",
]
