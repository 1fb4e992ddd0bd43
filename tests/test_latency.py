"""Latency tables: profiling, resumption, validation of files, the provider, calibration, and the
torch-free on-device profiler."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rapdarts.cli import main
from rapdarts.costs import CostEvaluator, OpSpec, TargetNetwork, genotype_costs
from rapdarts.costs.plugins import discover_providers
from rapdarts.data import DataShape
from rapdarts.deploy import ondevice
from rapdarts.errors import RapdartsError
from rapdarts.latency.calibration import CORRECTION_GROUPS, fit_correction
from rapdarts.latency.profile import export_ops, profile, target_specs
from rapdarts.latency.table import LatencyTable
from rapdarts.space.genotype import preset

TARGET = TargetNetwork(DataShape(10, 1, (8, 8)), init_channels=4, cells=5)
FAST = ondevice.TimingSettings(warmup=1, repeats=3, sessions=1)
SHAPE = ["--dataset", "digits", "--init-channels", "4", "--cells", "5"]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("latency") / "table.json"
    profile(target_specs(TARGET), path, FAST, progress=False)
    return path


def test_profile_covers_every_op_the_target_needs(table_path):
    table = LatencyTable.load(table_path)
    specs = target_specs(TARGET)
    assert set(table.entries) == {spec.key() for spec in specs}
    assert {s.op for s in specs} >= {"stem", "classifier", "sep_conv_5x5", "max_pool_3x3", "factorized_reduce"}
    assert "none" not in {s.op for s in specs}
    header = table.header
    assert header["complete"] and header["batch"] == 1 and header["provider"] == "CPUExecutionProvider"
    assert header["overhead_ms"] > 0 and header["device"] == ondevice.device_name()
    assert all(e["p10_ms"] <= e["median_ms"] <= e["p90_ms"] for e in table.entries.values())


def test_interrupted_profile_is_marked_incomplete_and_completed_on_rerun(tmp_path, caplog):
    directory, out = tmp_path / "ops", tmp_path / "table.json"
    specs = target_specs(TARGET)[:6]
    export_ops(specs, directory, progress=False)

    def interrupt_after_three(done, total, key, timing):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ondevice.profile_manifest(directory, out, FAST, on_entry=interrupt_after_three)
    partial = json.loads(out.read_text())
    assert partial["header"]["complete"] is False and len(partial["entries"]) == 3
    LatencyTable.load(out)
    assert "incomplete (3 of 6 entries)" in caplog.text
    ondevice.profile_manifest(directory, out, FAST, on_entry=None)
    done = json.loads(out.read_text())
    assert done["header"]["complete"] and len(done["entries"]) == 6
    assert all(done["entries"][k] == v for k, v in partial["entries"].items())  # kept, not re-measured


def _write(path, mutate):
    data = {"format": ondevice.TABLE_FORMAT,
            "header": {"device": "d", "onnxruntime": "1", "provider": "CPUExecutionProvider", "intra_threads": 1,
                       "optimization": "all", "batch": 1, "dtype": "float32", "overhead_ms": 0.01, "complete": True},
            "entries": {"k": {"spec": {}, "median_ms": 1.0, "p10_ms": 0.9, "p90_ms": 1.1}}}
    mutate(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["entries"]["k"].update(median_ms=float("nan")), "entry 'k' has median_ms = nan"),
    (lambda d: d["entries"]["k"].update(p10_ms=-0.5), "entry 'k' has p10_ms = -0.5"),
    (lambda d: d["header"].pop("batch"), "header misses 'batch'"),
    (lambda d: d.update(format="something else"), "is not a rapdarts latency table"),
])
def test_implausible_tables_are_rejected(tmp_path, mutate, message):
    with pytest.raises(RapdartsError, match=message):
        LatencyTable.load(_write(tmp_path / "t.json", mutate))


def test_corrupt_and_truncated_tables(tmp_path, table_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(table_path.read_text()[:500])
    with pytest.raises(RapdartsError, match="corrupt or truncated"):
        LatencyTable.load(truncated)
    with pytest.raises(RapdartsError, match="does not exist; create it with 'rapdarts profile"):
        LatencyTable.load(tmp_path / "absent.json")


def test_provider_adds_the_overhead_once_and_subtracts_it_elsewhere(tmp_path, table_path):
    table = LatencyTable.load(table_path)
    for entry in table.entries.values():
        entry["median_ms"] = 1.0
    table.header["overhead_ms"] = 0.25
    table.path = tmp_path / "ones.json"
    table.save()
    provider = discover_providers(options={"latency.table": str(table.path)}).get("latency")
    genotype = preset("PDARTS")
    ops = [s for s in TARGET.genotype_specs(genotype) if s.op != "none"]
    cost = genotype_costs(genotype, [provider], TARGET, CostEvaluator(use_disk=False))["latency"]
    assert cost == pytest.approx(1.0 + (len(ops) - 1) * 0.75)  # the stem keeps the call overhead


def test_missing_op_of_a_foreign_table_names_the_op_and_how_to_profile_it(tmp_path, table_path):
    data = json.loads(table_path.read_text())
    data["header"]["device"] = "Cortex-A72 (aarch64, Linux)"
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(data))
    provider = discover_providers(options={"latency.table": str(foreign)}).get("latency")
    spec = OpSpec("sep_conv_3x3", 40, 40, 1, 8, 8)
    message = "sep_conv_3x3 40->40ch.*missing from latency table.*Cortex-A72.*export-ops"
    with pytest.raises(RapdartsError, match=message):
        CostEvaluator(use_disk=False).cost(provider, spec)


def test_ops_missing_from_a_table_of_this_machine_are_measured_on_demand(tmp_path, table_path):
    copy = tmp_path / "t.json"
    copy.write_text(table_path.read_text())
    provider = discover_providers(options={"latency.table": str(copy)}).get("latency")
    spec = OpSpec("sep_conv_3x3", 40, 40, 1, 8, 8)
    assert CostEvaluator(use_disk=False).cost(provider, spec) >= 0
    assert spec.key() in LatencyTable.load(copy).entries


def test_mismatched_settings_are_errors(table_path):
    options = {"latency.table": str(table_path), "latency.threads": "4"}
    provider = discover_providers(options=options).get("latency")
    with pytest.raises(RapdartsError, match="measured with intra_threads 1, but 4 is asked for"):
        provider.cost(OpSpec("stem", 1, 12, 1, 8, 8))
    provider = discover_providers(options={"latency.table": str(table_path)}).get("latency")
    with pytest.raises(RapdartsError, match="measured at batch 1, but costs are asked at batch 8"):
        provider.cost(OpSpec("stem", 1, 12, 1, 8, 8, batch=8))


def test_unavailable_execution_provider_is_a_one_line_cli_error(tmp_path, capsys):
    status = main(["profile", "--out", str(tmp_path / "t.json"), "--provider", "CUDAExecutionProvider",
                   "--no-progress", *SHAPE])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "'CUDAExecutionProvider' is not available" in err and len(err.splitlines()) == 1


def test_on_device_profiler_needs_neither_torch_nor_rapdarts(tmp_path, table_path):
    directory = tmp_path / "export"
    assert main(["export-ops", str(directory), "--no-progress", *SHAPE]) == 0
    script = directory / "profile_ops.py"
    code = ("import runpy, sys; sys.modules['torch'] = None; sys.modules['rapdarts'] = None; "
            f"sys.argv = ['profile_ops.py', {str(directory)!r}, '--repeats', '3', '--warmup', '1', "
            f"'--sessions', '1', '--quiet']; runpy.run_path({str(script)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    device_table = LatencyTable.load(directory / "latency_table.json")
    assert set(device_table.entries) == set(LatencyTable.load(table_path).entries)


def test_calibration_recovers_known_scales():
    rng = np.random.default_rng(0)
    truth = {"conv": 0.8, "pool": 1.3, "skip": 1.0, "fixed": 1.1}
    totals = [{g: float(rng.uniform(1, 10)) for g in CORRECTION_GROUPS} for _ in range(30)]
    measured = [sum(truth[g] * t[g] for g in CORRECTION_GROUPS) for t in totals]
    fitted = fit_correction(totals, measured, shrinkage=1e-6)
    assert all(fitted[g] == pytest.approx(truth[g], rel=1e-3) for g in CORRECTION_GROUPS)


def test_validate_latency_reports_agreement_and_stores_a_correction(tmp_path, table_path, capsys):
    copy = tmp_path / "t.json"
    copy.write_text(table_path.read_text())
    out = tmp_path / "validation"
    assert main(["validate-latency", "--table", str(copy), "--samples", "5", "--calibrate", "--out", str(out),
                 "--no-progress", *SHAPE]) == 0
    report = json.loads((out / "validation.json").read_text())
    assert len(report["rows"]) == 8  # three presets and five random genotypes
    assert {"pearson_r", "kendall_tau", "mean_error", "within_10pct"} <= set(report["held_out_corrected"])
    assert (out / "latency_scatter.png").stat().st_size > 1000
    assert set(LatencyTable.load(copy).header["correction"]["scale"]) == set(CORRECTION_GROUPS)
    assert "held_out_corrected" in capsys.readouterr().out


def test_flagship_workflow_size_and_latency_together(tmp_path, table_path, capsys):
    run = tmp_path / "run"
    assert main(["search", "--profile", "tiny", "--device", "cpu", "--no-progress", "--epochs", "1",
                 "--warmup-epochs", "0", "--run-dir", str(run), "--cost", "params=1e-6", "--cost", "latency=1e-1",
                 "--cost-option", f"latency.table={table_path}", "--target-channels", "4", "--target-cells", "5"]) == 0
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert set(row["expected_cost"]) == {"params", "latency"} and row["cost_units"]["latency"] == "ms"
    capsys.readouterr()
    assert main(["cost", str(run), *SHAPE, "--cost", "params", "--cost", "latency",
                 "--cost-option", f"latency.table={table_path}", "--measure"]) == 0
    out = capsys.readouterr().out
    assert "latency" in out and "measured" in out and "predicted" in out
