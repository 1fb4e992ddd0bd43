"""Profiling: every distinct op spec a target network needs, and whole calibration networks, exported and timed.

``rapdarts profile`` does it all on this machine. ``rapdarts export-ops DIR`` writes the same bundle
for a device without torch: the op models, the calibration networks, a manifest, the torch-free
profiler (:mod:`rapdarts.ondevice`, copied as the package ``rapdarts_ondevice``) and the
launcher ``profile_ops.py``; ``python DIR/profile_ops.py DIR`` there writes the calibrated table.

Calibration networks are the published genotypes and random ones, each with every op of the
target's spec set that it uses; every third random genotype is held out of the fit to judge it.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rapdarts import ondevice
from rapdarts.costs.spec import OpSpec, build_module, example_input
from rapdarts.costs.target import TargetNetwork
from rapdarts.deploy.onnx_export import export_onnx
from rapdarts.errors import RapdartsError
from rapdarts.latency import int8
from rapdarts.latency.op_latency import network_ops, op_group
from rapdarts.runtime.progress import progress_bar
from rapdarts.space.genotype import (
    CELL_TYPES,
    Genotype,
    preset,
    preset_names,
    single_op_genotype,
    varied_genotype,
)
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import derivable, primitives
from rapdarts.storage.locking import exclusive, is_locked
from rapdarts.storage.paths import check_output
from rapdarts.version import __version__

CREATED_BY = f"rapdarts {__version__}"
DEFAULT_NETWORKS = 30
"""Random calibration genotypes (besides the presets): 20 fit the calibration, 10 judge it."""
HELD_OUT_EVERY = 3
"""Every third random genotype is held out of the calibration fit."""
PACKAGE = "rapdarts_ondevice"
WORK_PREFIX = "rapdarts-ops-"


class _CallOverhead(torch.nn.Module):
    """A trivial model: timing it measures the fixed cost of one ``session.run`` call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


def target_specs(target: TargetNetwork, ops: Sequence[str] | None = None) -> list[OpSpec]:
    """Distinct specs of every candidate op in every cell, plus the fixed parts, in a stable order.

    ``none`` is left out: it is never deployed and costs nothing.
    """
    ops = derivable(ops or primitives())
    specs: dict[str, OpSpec] = {}
    for spec in target.fixed_specs():
        specs.setdefault(spec.key(), spec)
    for cell_type in CELL_TYPES:
        for edge in target.candidate_specs(cell_type, [tuple(ops)] * len(edge_sources())):
            for per_cell in edge:
                for spec in per_cell:
                    specs.setdefault(spec.key(), spec)
    return list(specs.values())


def calibration_genotypes(count: int, seed: int = 0) -> list[tuple[str, Genotype, str]]:
    """``(name, genotype, role)``: the presets, one network per op type (every edge that op), and ``count``
    random genotypes, every third of which is held out to judge the fit. With ``count`` 0: none at all.

    The single-op networks pin each op group's scale down (a mix of random networks alone leaves the
    small groups, pools and skips, poorly determined); the random ones, half of them dominated by one
    or two op types (:func:`varied_genotype`), are what the fit is judged on.
    """
    if count <= 0:
        return []
    rng = random.Random(seed)
    chosen = [(name, preset(name), "fit") for name in preset_names()]
    chosen += [(f"only-{op}", single_op_genotype(op), "fit") for op in derivable()]
    for index in range(count):
        role = "held_out" if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "fit"
        chosen.append((f"random-{index}", varied_genotype(rng, index), role))
    return chosen


def _launcher() -> str:
    return ('"""Profile this export with ONNX Runtime: python profile_ops.py DIR (needs only onnxruntime and '
            'numpy)."""\n'
            "import pathlib\nimport sys\n\n"
            "sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))\n"
            f"from {PACKAGE}.maker import main  # noqa: E402\n\n"
            "sys.exit(main())\n")


def export_bundle(target: TargetNetwork, directory: str | Path, networks: int = DEFAULT_NETWORKS, seed: int = 0,
                  progress: bool = True, precision: str = "fp32", calibration: str | None = None) -> Path:
    """Write the op models, calibration networks, manifest, profiler package and launcher into ``directory``.

    With ``precision="int8"`` every model is quantized (static, QDQ) on real inputs: ``calibration``
    names the images (:mod:`rapdarts.latency.int8`); the device then times int8 models as they are.
    """
    directory = Path(directory)
    (directory / "ops").mkdir(parents=True, exist_ok=True)
    int8.check_precision(precision, calibration)
    images = int8.calibration_images(calibration, target.in_channels, target.image_size) \
        if precision == "int8" else None
    activations = int8.op_calibration(target, images) if images is not None else {}
    specs = target_specs(target)
    entries = []
    with progress_bar(len(specs), "exporting ops" + (" (int8)" if images is not None else ""), progress) as bar:
        for index, spec in enumerate(specs):
            name = f"ops/{index:04d}.onnx"
            data = export_onnx(build_module(spec), example_input(spec), what=f"op {spec.describe()}")
            if images is not None:
                data = int8.quantize_op(data, spec, activations)
            (directory / name).write_bytes(data)
            entries.append({"key": spec.key(), "spec": spec.to_dict(), "group": op_group(spec), "file": name,
                            "input_shape": [spec.batch, spec.C_in, spec.height, spec.width], "numpy_dtype": spec.dtype})
            bar.update(1)
    export_onnx(_CallOverhead(), torch.zeros(1), directory / "ops" / "overhead.onnx", what="the overhead model")
    known = {spec.key() for spec in specs}
    chosen = calibration_genotypes(networks, seed) if networks else []
    records = []
    if chosen:
        (directory / "networks").mkdir(exist_ok=True)
    with progress_bar(len(chosen), "exporting calibration networks", progress and bool(chosen)) as bar:
        for name, genotype, role in chosen:
            ops = network_ops(target, genotype)
            assert set(ops) <= known, "a calibration network uses an op the table does not profile"
            example = torch.randn(target.batch, target.in_channels, *target.image_size)
            data = export_onnx(target.build(genotype).eval(), example, what=f"calibration network {name}")
            if images is not None:
                data = int8.quantize_network(data, images, target.batch, f"calibration network {name}")
            (directory / "networks" / f"{name}.onnx").write_bytes(data)
            records.append({"name": name, "role": role, "file": f"networks/{name}.onnx",
                            "input_shape": list(example.shape), "genotype": genotype.to_dict(), "ops": dict(ops)})
            bar.update(1)
    manifest = {"format": ondevice.MANIFEST_FORMAT, "created_by": CREATED_BY, "batch": target.batch,
                "dtype": target.dtype, "target": target.to_dict(), "precision": precision,
                "int8_calibration": {"source": calibration, "images": int8.IMAGES} if images is not None else None,
                "overhead": {"file": "ops/overhead.onnx", "input_shape": [1]}, "entries": entries, "networks": records}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    package = Path(ondevice.__file__).parent
    shutil.copytree(package, directory / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (directory / "profile_ops.py").write_text(_launcher())
    return directory


@contextmanager
def _stage_bars(enabled: bool) -> Iterator[ondevice.profiler.Progress]:
    """A progress bar per profiling stage (ops, networks), counted in sessions."""
    bars: dict[str, Any] = {}
    contexts = []

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            context = progress_bar(total, f"timing {stage}", enabled)
            contexts.append(context)
            bars[stage] = context.__enter__()
        bar = bars[stage]
        bar.update(done - getattr(bar, "n", done))

    try:
        yield update
    finally:
        for context in reversed(contexts):
            context.__exit__(None, None, None)


def make_table(target: TargetNetwork, out: str | Path, settings: ondevice.TimingSettings,
               networks: int = DEFAULT_NETWORKS, seed: int = 0, progress: bool = True,
               calibration: str | None = None) -> Path:
    """Export and time ``target``'s ops and calibration networks on this machine into the table ``out``.

    Resumable: an interrupted profile leaves a table marked incomplete with the runs measured so
    far, and the same command completes it. ``networks=0`` makes an uncalibrated table. The table
    is locked meanwhile (a second profile into it is an error), and working directories that killed
    profiles left in the temporary directory are removed. ``settings.precision`` int8 quantizes
    every model on the images ``calibration`` names. An existing table of another precision or
    made on another machine is never extended: a one-line error.
    """
    out = check_output(out, "the latency table")
    check_extendable(out, settings)
    with exclusive(out.parent / f".{out.name}.lock", f"latency table {out}", remove=True):
        _remove_stale_work()
        with tempfile.TemporaryDirectory(prefix=WORK_PREFIX) as work, exclusive(Path(work) / ".lock", work):
            export_bundle(target, work, networks, seed, progress, settings.precision, calibration)
            with _stage_bars(progress) as update:
                try:
                    return ondevice.table_from_export(work, out, settings, update, calibrate=networks > 0)
                except ondevice.ProfilingError as error:
                    raise RapdartsError(str(error)) from None


def check_extendable(out: Path, settings: ondevice.TimingSettings) -> None:
    """A one-line error when ``out`` is a table this profile must not add to: another precision, another machine."""
    if not out.exists():
        return
    try:
        header = json.loads(out.read_text()).get("header") or {}
    except (ValueError, AttributeError):
        return  # not a table: the profile starts afresh and replaces it
    precision = header.get("precision", "fp32")
    if precision != settings.precision:
        raise RapdartsError(f"latency table {out} holds {precision} timings and this profile measures "
                            f"{settings.precision}: precisions are never mixed in one table; profile into another file")
    if header.get("device") and not ondevice.measured_here(header):
        raise RapdartsError(f"latency table {out} was measured on {header.get('device')} (ONNX Runtime "
                            f"{header.get('onnxruntime')}), not on this machine: its timings cannot be extended here; "
                            "profile into another file")


def _remove_stale_work() -> None:
    """Working directories of profiles killed before they could clean up: no live process holds their lock."""
    for stale in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        lock = stale / ".lock"
        if stale.is_dir() and lock.exists() and not is_locked(lock):
            shutil.rmtree(stale, ignore_errors=True)


def measure_spec(spec: OpSpec, settings: ondevice.TimingSettings) -> dict:
    """Time one op now (used to fill a table on demand)."""
    data = export_onnx(build_module(spec), example_input(spec), what=f"op {spec.describe()}")
    inputs = np.random.default_rng(0).standard_normal((spec.batch, spec.C_in, spec.height, spec.width))
    try:
        return ondevice.time_model(data, inputs.astype(spec.dtype), settings).to_dict()
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None


def measure_overhead(settings: ondevice.TimingSettings) -> float:
    data = export_onnx(_CallOverhead(), torch.zeros(1), what="the overhead model")
    return ondevice.time_model(data, np.zeros(1, np.float32), settings).latency_ms
