"""Profile an op export: time every op, time whole calibration networks, fit and judge the calibration.

Used by ``rapdarts profile`` on the host and by ``profile_ops.py`` on a device, so both measure the
same way. The export directory (``rapdarts export-ops``) holds ``manifest.json``, one ONNX model
per op spec, a trivial model for the per-call overhead, and whole networks of the target (the
published genotypes and random ones), each marked ``fit`` or ``held_out``. Interrupted runs resume:
the runs measured so far are kept in the table (``complete: false``) and reused by a rerun with
the same settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import agreement, fit_scales, network_features, predict
from .tables import MANIFEST_FORMAT, read_partial, table_header, write_table
from .timing import (
    OPTIMIZATION_LEVELS,
    REFERENCE_COPIES,
    ProfilingError,
    TimingSettings,
    check_settings,
    time_model,
    time_models,
    time_with_floor,
)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: what is being timed, counted in sessions."""

MIN_FIT, MIN_HELD_OUT = 4, 2
"""Fewest calibration networks that make a fit, and held-out networks that make a judgement."""
NOISY_FLOOR = 0.03
"""A noise floor (relative sd of an estimate) above this is worth a warning: predictions cannot be checked closer."""


def print_progress(stage: str, done: int, total: int) -> None:
    print(f"{stage}: {done}/{total} sessions", file=sys.stderr)


def load_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise ProfilingError(f"{directory / 'manifest.json'} is missing or not valid JSON ({error}); create it with "
                             "'rapdarts export-ops'") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ProfilingError(f"{directory / 'manifest.json'} is not a rapdarts op export of this version; export "
                             "again with 'rapdarts export-ops'")
    return manifest


def _models(directory: Path, items: list[dict[str, Any]]) -> list[tuple[str, Path, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(item.get("key") or item["name"], directory / item["file"],
             rng.standard_normal(item["input_shape"]).astype(item.get("numpy_dtype", "float32"))) for item in items]


def table_from_export(directory: str | Path, out: str | Path | None = None, settings: TimingSettings = TimingSettings(),
                      progress: Progress | None = print_progress, calibrate: bool = True, name: str | None = None
                      ) -> Path:
    """Time the export in ``directory`` and write the (calibrated) latency table; returns its path. ``name`` is
    recorded in the header: the name ``rapdarts tables add`` files the table under."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    out = Path(out) if out else directory / "latency_table.json"
    # The export's models are what they are (fp32, or quantized on the host): the table records their precision.
    settings = replace(settings, precision=manifest.get("precision", "fp32"))
    header = table_header(settings, manifest["batch"], manifest["dtype"], len(manifest["entries"]),
                          f"rapdarts profiler ({manifest.get('created_by', '?')})", manifest.get("target"))
    header["int8_calibration"] = manifest.get("int8_calibration")
    if name:
        header["name"] = name
    partial = read_partial(out, header)
    header["partial"] = {"ops": partial.get("ops", {}), "networks": partial.get("networks", {})}
    overhead = manifest["overhead"]
    header["overhead_ms"] = time_model(directory / overhead["file"], np.zeros(overhead["input_shape"], np.float32),
                                       settings).latency_ms
    networks = manifest.get("networks", []) if calibrate else []
    timings, header["noise_floor"] = _time_together(directory, manifest["entries"], networks, settings, header, out,
                                                    progress)
    entries = {item["key"]: {"spec": item["spec"], "group": item.get("group", "fixed"),
                             **timings[item["key"]].to_dict()} for item in manifest["entries"]}
    if networks:
        header["calibration"] = calibration(networks, timings, entries, header["overhead_ms"])
        header["reference"] = reference(directory, networks[0], timings[networks[0]["name"]], settings)
    header["warnings"] = warnings(entries, header.get("calibration"), settings, bool(manifest.get("networks")),
                                  calibrate, header.get("noise_floor")) + reference_warnings(header.get("reference"))
    header["partial"] = None
    header["complete"] = True
    write_table(out, header, entries)
    return out


def _time_together(directory: Path, ops: list[dict[str, Any]], networks: list[dict[str, Any]],
                   settings: TimingSettings, header: dict[str, Any], out: Path,
                   progress: Progress | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Time ops and calibration networks in the same interleaved rounds; the timings and the noise floor.

    A machine that slows down for a minute (a neighbour on a shared host, a second vCPU taken away)
    then slows ops and networks alike, instead of skewing the calibration that relates the two.
    Runs so far are saved after every round (under ``partial``), so an interrupted profile resumes.
    """
    op_models, network_models = _models(directory, ops), _models(directory, networks)
    op_names = {name for name, _, _ in op_models}
    copies = REFERENCE_COPIES - 1 if network_models else 0
    total = (len(op_models) + len(network_models) + copies) * settings.sessions

    def saved(samples: dict[str, list[list[float]]]) -> None:
        header["partial"] = {"ops": {k: v for k, v in samples.items() if k in op_names},
                             "networks": {k: v for k, v in samples.items() if k not in op_names}}
        write_table(out, header, {})
        if progress is not None:
            progress("ops and networks", min(total, sum(min(len(s), settings.sessions) for s in samples.values())),
                     total)

    done = {**header["partial"]["ops"], **header["partial"]["networks"]}
    if not network_models:
        return time_models(op_models, settings, seed=0, done=done, on_round=saved), None
    # The first calibration network is the reference: timed again in every round, its copies give the noise floor.
    return time_with_floor(op_models + network_models, network_models[0][0], settings, seed=0, done=done,
                           on_round=saved)


def calibration(networks: list[dict[str, Any]], timings: dict[str, Any], entries: dict[str, Any],
                overhead_ms: float | None) -> dict[str, Any] | None:
    """Fit the per-group scales on the ``fit`` networks and judge them on the ``held_out`` ones."""
    rows = []
    for network in networks:
        features = network_features(network["ops"], entries, overhead_ms)
        timing = timings[network["name"]]
        rows.append({"name": network["name"], "role": network["role"], "genotype": network["genotype"],
                     "measured_ms": timing.latency_ms,
                     "spread": timing.spread, "noisy": timing.noisy, "features": features,
                     "predicted_ms": predict(features, None)})
    fit = [row for row in rows if row["role"] == "fit"]
    held = [row for row in rows if row["role"] == "held_out"]
    if len(fit) < MIN_FIT or len(held) < MIN_HELD_OUT:
        return None
    scales = fit_scales([row["features"] for row in fit], [row["measured_ms"] for row in fit])
    for row in rows:
        row["calibrated_ms"] = predict(row["features"], scales)
    return {
        "method": "per-group scales, non-negative least squares on relative errors, shrunk towards 1",
        "scales": scales, "fitted_on": len(fit),
        "held_out": agreement([r["calibrated_ms"] for r in held], [r["measured_ms"] for r in held]),
        "held_out_uncalibrated": agreement([r["predicted_ms"] for r in held], [r["measured_ms"] for r in held]),
        "networks": rows,
    }


def reference(directory: Path, network: dict[str, Any], timing: Any, settings: TimingSettings) -> dict[str, Any]:
    """The first calibration network's latency now, to tell later whether the machine still runs as fast.

    With several intra-op threads it is also timed on one thread: no speedup means the other cores
    were busy while the table was made.
    """
    record = {"name": network["name"], "genotype": network["genotype"], "latency_ms": timing.latency_ms}
    if settings.intra_threads > 1:
        single = TimingSettings(**{**settings.to_dict(), "intra_threads": 1})
        (_, model, inputs), = _models(directory, [network])
        record["single_thread_ms"] = time_model(model, inputs, single).latency_ms
    return record


def reference_warnings(record: dict[str, Any] | None) -> list[str]:
    if record is None or "single_thread_ms" not in record:
        return []
    speedup = record["single_thread_ms"] / record["latency_ms"]
    if speedup >= 1.05:
        return []
    return [f"{record['name']} ran {speedup:.2f}x as fast on all intra-op threads as on one: the other cores were "
            "busy while profiling, so the table describes a loaded machine; profile again when it is quiet"]


def warnings(entries: dict[str, Any], fitted: dict[str, Any] | None, settings: TimingSettings, had_networks: bool,
             calibrate: bool, floor: dict[str, Any] | None = None) -> list[str]:
    """What a user of the table must know: noisy measurements, a missing or poor calibration."""
    notes = []
    noisy = [key for key, entry in entries.items() if entry.get("noisy")]
    if noisy:
        notes.append(f"{len(noisy)} of {len(entries)} ops varied by more than {settings.noise_threshold:.0%} between "
                     "sessions even after re-measuring: the machine was busy or drifting; profile again when it is "
                     "quiet")
    if fitted is None:
        reason = "too few calibration networks" if calibrate and had_networks else "no calibration networks"
        notes.append(f"{reason}: the table is uncalibrated (sums of ops timed alone)")
        return notes
    floor = floor or {}
    if floor.get("sd", 0.0) > NOISY_FLOOR:
        notes.append(f"independent estimates of {floor['network']} in the same rounds varied by {floor['sd']:.1%} (sd; "
                     f"worst spread {floor['worst_spread']:.1%}): predictions cannot be checked more closely than "
                     "that here; profile again when the machine is quiet")
    noisy_networks = [row["name"] for row in fitted["networks"] if row["noisy"]]
    if noisy_networks:
        notes.append(f"{len(noisy_networks)} of {len(fitted['networks'])} calibration networks varied by more than "
                     f"{settings.noise_threshold:.0%} between sessions: the machine was busy or drifting")
    held = fitted["held_out"]
    if held["within_10pct"] < 0.9:
        notes.append(f"only {held['within_10pct']:.0%} of held-out networks are predicted within 10% after "
                     "calibration: the machine was noisy, or this target needs more calibration networks")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the op models and calibration networks exported by "
                                                 "'rapdarts export-ops' with ONNX Runtime; write a latency table.")
    parser.add_argument("directory", help="the directory written by 'rapdarts export-ops'")
    parser.add_argument("--out", help="table file (default DIR/latency_table.json)")
    parser.add_argument("--provider", default="CPUExecutionProvider")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--optimization", default="all", choices=OPTIMIZATION_LEVELS)
    parser.add_argument("--warmup", type=int, default=TimingSettings.warmup)
    parser.add_argument("--repeats", type=int, default=TimingSettings.repeats)
    parser.add_argument("--sessions", type=int, default=TimingSettings.sessions)
    parser.add_argument("--block", type=int, default=TimingSettings.block, help="runs per block")
    parser.add_argument("--no-calibrate", action="store_true", help="skip the whole-network calibration")
    parser.add_argument("--name", help="a name for the table (a device: pi5, phone): 'rapdarts tables add' files it "
                        "under this name in the host's catalogue, for --cost latency@NAME")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = TimingSettings(args.provider, args.threads, 1, args.optimization, args.warmup, args.repeats,
                              args.sessions, args.block)
    try:
        check_settings(settings)
        path = table_from_export(args.directory, args.out, settings, None if args.quiet else print_progress,
                                 not args.no_calibrate, args.name)
    except ProfilingError as error:
        print(f"profile_ops: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("profile_ops: interrupted; rerun the same command to complete the table", file=sys.stderr)
        return 130
    header = json.loads(path.read_text())["header"]
    fitted = header.get("calibration")
    if fitted:
        held = fitted["held_out"]
        print(f"calibrated on {fitted['fitted_on']} networks; held-out {held['n']}: within 5% "
              f"{held['within_5pct']:.0%}, within 10% {held['within_10pct']:.0%}, mean |error| "
              f"{held['mean_abs_error']:.1%}", file=sys.stderr)
    for note in header["warnings"]:
        print(f"profile_ops: warning: {note}", file=sys.stderr)
    print(path)
    return 0
