"""``rapdarts surrogate export DIR``: the designed sample as an op bundle for a device without torch.

The bundle has the layout ``rapdarts export-ops`` writes (:mod:`rapdarts.latency.maker`): a
manifest of ``rapdarts.ondevice``'s format with one entry per op configuration (key, spec, group,
file, input shape), one ONNX model per entry, a trivial model for the per-call overhead, the
torch-free profiler package and its launcher, so the device times it with the same code and the
same statistic as this machine: ``python DIR/profile_ops.py DIR`` writes ``DIR/latency_table.json``,
a latency table whose entries span the designed shapes and batch sizes; ``rapdarts surrogate fit``
accepts it like a sample. No whole networks travel (the profiler calibrates a table on networks
made of its own entries), so that surrogate is uncalibrated; and the device times every entry,
with no time budget, so ``samples`` is the budget.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rapdarts import ondevice
from rapdarts.latency.maker import CREATED_BY, PACKAGE
from rapdarts.latency.op_latency import op_group
from rapdarts.latency.surrogate_design import Design, DesignRanges
from rapdarts.latency.surrogate_sample import export_op, overhead_spec
from rapdarts.runtime.progress import progress_bar


def _launcher() -> str:
    return ('"""Profile this export with ONNX Runtime: python profile_ops.py DIR (needs only onnxruntime and '
            'numpy)."""\nimport pathlib\nimport sys\n\n'
            "sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))\n"
            f"from {PACKAGE}.maker import main  # noqa: E402\n\nsys.exit(main())\n")


def export_sample(directory: str | Path, samples: int, seed: int = 0, ranges: DesignRanges = DesignRanges(),
                  progress: bool = True) -> int:
    """Write the first ``samples`` configurations of the design of ``seed`` as an op bundle; how many it wrote."""
    directory = Path(directory)
    (directory / "ops").mkdir(parents=True, exist_ok=True)
    specs = Design(seed, ranges).take(samples)
    entries = []
    with progress_bar(len(specs), "exporting the sample", progress) as bar:
        for index, spec in enumerate(specs):
            name = f"ops/{index:05d}.onnx"
            (directory / name).write_bytes(export_op(spec))
            entries.append({"key": spec.key(), "spec": spec.to_dict(), "group": op_group(spec), "file": name,
                            "input_shape": [spec.batch, spec.C_in, spec.height, spec.width], "numpy_dtype": spec.dtype})
            bar.update(1)
    overhead = overhead_spec()
    (directory / "ops" / "overhead.onnx").write_bytes(export_op(overhead))
    manifest = {"format": ondevice.MANIFEST_FORMAT, "created_by": f"{CREATED_BY} (surrogate sample, seed {seed})",
                "batch": 1, "dtype": "float32", "target": None, "precision": "fp32", "int8_calibration": None,
                "surrogate_design": {"seed": seed, "ranges": ranges.to_dict(), "samples": len(specs)},
                "overhead": {"file": "ops/overhead.onnx",
                             "input_shape": [overhead.batch, overhead.C_in, overhead.height, overhead.width]},
                "entries": entries, "networks": []}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    package = Path(ondevice.__file__).parent
    shutil.copytree(package, directory / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (directory / "profile_ops.py").write_text(_launcher())
    return len(specs)
