"""Profiling: every distinct op spec a target network needs, exported to ONNX and timed.

``rapdarts profile`` does it all on this machine. ``rapdarts export-ops DIR`` writes the op models,
a manifest and the torch-free profiler script (:mod:`rapdarts.deploy.ondevice`) for a device without
torch; ``python DIR/profile_ops.py DIR`` there writes the table.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from rapdarts.costs.spec import OpSpec, build_module, example_input
from rapdarts.costs.target import TargetNetwork
from rapdarts.deploy import ondevice
from rapdarts.deploy.onnx_export import export_onnx
from rapdarts.errors import RapdartsError
from rapdarts.progress import progress_bar
from rapdarts.space.genotype import CELL_TYPES
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import primitives
from rapdarts.version import __version__

CREATED_BY = f"rapdarts {__version__}"


class _CallOverhead(torch.nn.Module):
    """A trivial model: timing it measures the fixed cost of one ``session.run`` call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


def target_specs(target: TargetNetwork, ops: Sequence[str] | None = None) -> list[OpSpec]:
    """Distinct specs of every candidate op in every cell, plus the fixed parts, in a stable order.

    ``none`` is left out: it is never deployed and costs nothing.
    """
    ops = [op for op in (ops or primitives()) if op != "none"]
    specs: dict[str, OpSpec] = {}
    for spec in target.fixed_specs():
        specs.setdefault(spec.key(), spec)
    for cell_type in CELL_TYPES:
        for edge in target.candidate_specs(cell_type, [tuple(ops)] * len(edge_sources())):
            for per_cell in edge:
                for spec in per_cell:
                    specs.setdefault(spec.key(), spec)
    return list(specs.values())


def export_spec(spec: OpSpec, path: Path | None = None) -> bytes:
    return export_onnx(build_module(spec), example_input(spec), path, what=f"op {spec.describe()}")


def export_ops(specs: Iterable[OpSpec], directory: str | Path, progress: bool = True) -> Path:
    """Write ``ops/NNNN.onnx`` per spec, ``manifest.json`` and ``profile_ops.py`` into ``directory``."""
    directory = Path(directory)
    (directory / "ops").mkdir(parents=True, exist_ok=True)
    specs = list(specs)
    batches, dtypes = {s.batch for s in specs}, {s.dtype for s in specs}
    if len(batches) != 1 or len(dtypes) != 1:
        raise RapdartsError("one export holds one batch size and dtype")
    entries = []
    with progress_bar(len(specs), "exporting ops", progress) as bar:
        for index, spec in enumerate(specs):
            name = f"ops/{index:04d}.onnx"
            export_spec(spec, directory / name)
            entries.append({"key": spec.key(), "spec": spec.to_dict(), "file": name,
                            "input_shape": [spec.batch, spec.C_in, spec.height, spec.width], "numpy_dtype": spec.dtype})
            bar.update(1)
    export_onnx(_CallOverhead(), torch.zeros(1), directory / "ops" / "overhead.onnx", what="the overhead model")
    manifest = {"format": ondevice.MANIFEST_FORMAT, "created_by": CREATED_BY, "batch": batches.pop(),
                "dtype": dtypes.pop(), "overhead": {"file": "ops/overhead.onnx", "input_shape": [1]},
                "entries": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.copyfile(ondevice.__file__, directory / "profile_ops.py")
    return directory


def profile(specs: Sequence[OpSpec], out: str | Path, settings: ondevice.TimingSettings,
            progress: bool = True) -> Path:
    """Export and time ``specs`` on this machine into the table ``out`` (resumable)."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="rapdarts-ops-") as work:
        export_ops(specs, work, progress)
        with progress_bar(len(specs), "timing ops", progress) as bar:
            def advance(done: int, total: int, key: str, timing: ondevice.Timing) -> None:
                bar.update(done - bar.n if hasattr(bar, "n") else 1)
                if hasattr(bar, "set_postfix_str"):
                    bar.set_postfix_str(f"{timing.median_ms:.3f} ms")

            try:
                return ondevice.profile_manifest(work, out, settings, on_entry=advance)
            except ondevice.ProfilingError as error:
                raise RapdartsError(str(error)) from None


def measure_spec(spec: OpSpec, settings: ondevice.TimingSettings) -> dict:
    """Time one op now (used to fill a table on demand)."""
    data = export_spec(spec)
    inputs = np.random.default_rng(0).standard_normal((spec.batch, spec.C_in, spec.height, spec.width))
    try:
        return ondevice.time_model(data, inputs.astype(spec.dtype), settings).to_dict()
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None


def measure_overhead(settings: ondevice.TimingSettings) -> float:
    data = export_onnx(_CallOverhead(), torch.zeros(1), what="the overhead model")
    return ondevice.time_model(data, np.zeros(1, np.float32), settings).median_ms
