"""Latency tables: profiling with calibration, resumption, validation of files, the provider, the
calibration maths, and the torch-free on-device profiler."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rapdarts import ondevice
from rapdarts.cli import main
from rapdarts.costs import CostCache, OpSpec, TargetNetwork, genotype_costs
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.latency.lookup import LatencyLookup
from rapdarts.latency.maker import calibration_genotypes, export_bundle, make_table, target_specs
from rapdarts.latency.table import LatencyTable
from rapdarts.plugins.manager import discover_providers
from rapdarts.space.genotype import preset
from rapdarts.space.ops import primitives

TARGET = TargetNetwork(DataShape(10, 1, (8, 8)), init_channels=4, cells=5)
ONE_OP = OpSpec("sep_conv_3x3", 8, 8, 1, 8, 8)
KEY = ONE_OP.key()
FAST = ondevice.TimingSettings(warmup=1, repeats=3, sessions=1)
SHAPE = ["--dataset", "digits", "--init-channels", "4", "--cells", "5"]
NETWORKS = 6  # random calibration genotypes of the tests' tables: 4 fit, 2 held out (plus the 3 presets, fit)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("latency") / "table.json"
    make_table(TARGET, path, FAST, networks=NETWORKS, progress=False)
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
    assert header["target"] == TARGET.to_dict() and header["partial"] is None
    assert all(e["p10_ms"] <= e["p90_ms"] and e["median_ms"] > 0 for e in table.entries.values())
    cell_ops = {op for op in primitives() if op != "none"}
    assert {e["group"] for e in table.entries.values()} == cell_ops | {"fixed"}


def test_the_header_records_the_calibration_and_its_held_out_figures(table_path):
    header = LatencyTable.load(table_path).header
    fitted = header["calibration"]
    roles = [role for _, _, role in calibration_genotypes(NETWORKS)]
    assert fitted["fitted_on"] == roles.count("fit") == 3 + 7 + 4 and roles.count("held_out") == 2  # presets, single-op
    held = fitted["held_out"]
    assert held["n"] == 2 and {"within_5pct", "within_10pct", "mean_error", "mean_abs_error"} <= set(held)
    groups = {e["group"] for e in LatencyTable.load(table_path).entries.values()}
    rows = {row["name"]: row for row in fitted["networks"]}
    timed = {g for row in rows.values() for g, t in row["features"].items() if t > 0}
    # groups of zero time have no scale (a tiny op can time at or under the per-call overhead on a busy machine);
    # the stem is counted whole, so the fixed group always has one
    assert "fixed" in set(fitted["scales"]) == timed and timed <= groups
    assert all(scale >= 0 for scale in fitted["scales"].values())
    assert set(rows) == {name for name, _, _ in calibration_genotypes(NETWORKS)}
    for row in rows.values():  # every network's calibrated prediction is sum_g scale_g * T_g
        assert row["calibrated_ms"] == pytest.approx(sum(fitted["scales"].get(g, 1.0) * t
                                                         for g, t in row["features"].items()))
    assert header["reference"]["name"] == "DARTS_V1" and header["reference"]["latency_ms"] > 0
    floor = header["noise_floor"]  # the reference timed three times in every round (each copy split in halves)
    assert floor["network"] == "DARTS_V1" and len(floor["estimates_ms"]) >= 3 and floor["sd"] >= 0


def test_the_calibration_is_fitted_without_its_held_out_networks(table_path):
    """The stored scales are the fit of the ``fit`` networks alone: fitted with the held-out ones too they differ, so
    the held-out figures judge networks the fit never saw."""
    fitted = LatencyTable.load(table_path).calibration
    rows = fitted["networks"]
    fit = [row for row in rows if row["role"] == "fit"]
    scales = ondevice.fit_scales([row["features"] for row in fit], [row["measured_ms"] for row in fit])
    assert scales == pytest.approx(fitted["scales"]) and fitted["fitted_on"] == len(fit) < len(rows)
    everything = ondevice.fit_scales([row["features"] for row in rows], [row["measured_ms"] for row in rows])
    assert everything != pytest.approx(fitted["scales"])


def test_the_latency_cost_is_the_calibrated_sum_of_the_table(table_path):
    """Every command prices a network the same way: the provider's op costs add up to LatencyLookup.predict."""
    table = LatencyTable.load(table_path)
    provider = discover_providers(options={"latency.table": str(table_path)}).get("latency")
    genotype = preset("PDARTS")
    cost = genotype_costs(genotype, [provider], TARGET, CostCache(use_disk=False))["latency"]
    assert cost == pytest.approx(table.predict(genotype, TARGET))
    assert cost == pytest.approx(LatencyLookup(Path(table_path)).predict(genotype, TARGET))
    row = next(r for r in table.calibration["networks"] if r["name"] == "PDARTS")
    assert cost == pytest.approx(row["calibrated_ms"])  # the calibration's own figure for the same network


def test_interrupted_profile_is_marked_incomplete_and_completed_on_rerun(tmp_path):
    directory, out = tmp_path / "export", tmp_path / "table.json"
    export_bundle(TARGET, directory, networks=0, progress=False)
    two_sessions = ondevice.TimingSettings(warmup=1, repeats=3, sessions=2, noise_threshold=1e9)  # no re-timing

    def interrupt_after_the_first_round(stage, done, total):
        if done == total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ondevice.table_from_export(directory, out, two_sessions, progress=interrupt_after_the_first_round)
    partial = json.loads(out.read_text())
    assert partial["header"]["complete"] is False and partial["entries"] == {}
    first_round = partial["header"]["partial"]["ops"]
    assert len(first_round) == len(target_specs(TARGET)) and all(len(runs) == 1 for runs in first_round.values())
    ondevice.table_from_export(directory, out, two_sessions, progress=None, calibrate=False)
    done = json.loads(out.read_text())
    assert done["header"]["complete"] and done["header"]["partial"] is None
    for key, blocks in first_round.items():  # the first round was kept, not measured again
        assert done["entries"][key]["blocks_ms"][0] == blocks[0]
        assert len(done["entries"][key]["blocks_ms"]) == 2
    assert done["header"]["calibration"] is None
    assert any("uncalibrated" in note for note in done["header"]["warnings"])


def _write(path, mutate):
    data = {"format": ondevice.TABLE_FORMAT,
            "header": {"device": "d", "onnxruntime": "1", "provider": "CPUExecutionProvider", "intra_threads": 1,
                       "optimization": "all", "batch": 1, "dtype": "float32", "overhead_ms": 0.01, "complete": True,
                       "calibration": {"scales": {"fixed": 1.1}}},
            "entries": {KEY: {"spec": ONE_OP.to_dict(), "median_ms": 1.0, "p10_ms": 0.9, "p90_ms": 1.1}}}
    mutate(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["entries"][KEY].update(median_ms=float("nan")), re.escape(f"entry {KEY!r} has median_ms = nan")),
    (lambda d: d["entries"][KEY].update(p10_ms=-0.5), re.escape(f"entry {KEY!r} has p10_ms = -0.5")),
    (lambda d: d["entries"][KEY].update(spec={"op": "sep_conv_3x3"}), "has a missing or malformed spec"),
    (lambda d: d["header"].update(provider="CPUExecutionProvder"), "'CPUExecutionProvder' is not an ONNX Runtime"),
    (lambda d: d["header"].pop("batch"), "header misses 'batch'"),
    (lambda d: d.update(format="something else"), "is not a rapdarts latency table"),
    (lambda d: d["header"].update(calibration={"scales": {"fixed": -1}}), "calibration has no valid scales"),
    (lambda d: d["header"].update(calibration={"scale": 3}), "calibration has no valid scales"),
])
def test_implausible_tables_are_rejected(tmp_path, mutate, message):
    with pytest.raises(RapdartsError, match=message):
        LatencyTable.load(_write(tmp_path / "t.json", mutate))


def test_a_table_of_the_first_format_loads_uncalibrated(tmp_path, caplog):
    path = _write(tmp_path / "old.json", lambda d: d.update(format="rapdarts-latency-table/1"))
    assert LatencyTable.load(path).calibration is None
    assert "made by an older rapdarts" in caplog.text


def test_corrupt_and_truncated_tables(tmp_path, table_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(table_path.read_text()[:500])
    with pytest.raises(RapdartsError, match="corrupt or truncated"):
        LatencyTable.load(truncated)
    with pytest.raises(RapdartsError, match="does not exist; create it with 'rapdarts profile"):
        LatencyTable.load(tmp_path / "absent.json")


def test_provider_adds_the_overhead_once_and_scales_by_group(tmp_path, table_path):
    table = LatencyTable.load(table_path)
    for entry in table.entries.values():
        entry["latency_ms"] = entry["median_ms"] = 1.0
    table.header["overhead_ms"] = 0.25
    table.header["calibration"] = {"scales": {"fixed": 2.0}}  # every other group: 1
    table.path = tmp_path / "ones.json"
    table.save()
    provider = discover_providers(options={"latency.table": str(table.path)}).get("latency")
    genotype = preset("PDARTS")
    specs = [s for s in TARGET.genotype_specs(genotype) if s.op != "none"]
    fixed = [s for s in specs if not s.is_cell_op]
    cost = genotype_costs(genotype, [provider], TARGET, CostCache(use_disk=False))["latency"]
    # the stem keeps the call overhead (1.0), every other op costs 0.75, fixed ones twice that
    assert cost == pytest.approx(2.0 * (1.0 + (len(fixed) - 1) * 0.75) + (len(specs) - len(fixed)) * 0.75)


def test_missing_op_of_a_foreign_table_names_the_op_and_how_to_profile_it(tmp_path, table_path):
    data = json.loads(table_path.read_text())
    data["header"]["device"] = "Cortex-A72 (aarch64, Linux)"
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(data))
    provider = discover_providers(options={"latency.table": str(foreign)}).get("latency")
    spec = OpSpec("sep_conv_3x3", 40, 40, 1, 8, 8)
    message = "sep_conv_3x3 40->40ch.*missing from latency table.*Cortex-A72.*export-ops"
    with pytest.raises(RapdartsError, match=message):
        CostCache(use_disk=False).cost(provider, spec)


def test_ops_missing_from_a_table_of_this_machine_are_measured_on_demand_uncalibrated(tmp_path, table_path, caplog):
    copy = tmp_path / "t.json"
    copy.write_text(table_path.read_text())
    provider = discover_providers(options={"latency.table": str(copy)}).get("latency")
    spec = OpSpec("sep_conv_3x3", 40, 40, 1, 8, 8)
    assert CostCache(use_disk=False).cost(provider, spec) >= 0
    entry = LatencyTable.load(copy).entries[spec.key()]
    assert entry["on_demand"] is True and entry["group"] == "sep_conv_3x3"
    assert "outside the network" in caplog.text and "uncalibrated" in caplog.text


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


@pytest.mark.slow
def test_on_device_profiler_needs_neither_torch_nor_rapdarts(tmp_path, table_path):
    directory = tmp_path / "export"
    assert main(["export-ops", str(directory), "--no-progress", "--networks", str(NETWORKS), *SHAPE]) == 0
    script = directory / "profile_ops.py"
    code = ("import runpy, sys; sys.modules['torch'] = None; sys.modules['rapdarts'] = None; "
            f"sys.argv = ['profile_ops.py', {str(directory)!r}, '--repeats', '3', '--warmup', '1', "
            f"'--sessions', '1', '--quiet']; runpy.run_path({str(script)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    device_table = LatencyTable.load(directory / "latency_table.json")
    assert set(device_table.entries) == set(LatencyTable.load(table_path).entries)
    assert device_table.calibration["fitted_on"] == 14 and "calibrated on 14 networks" in result.stderr


def test_calibration_recovers_known_scales():
    """Synthetic networks whose latency is exactly sum_g scale_g * T_g: the fit finds the scales."""
    rng = np.random.default_rng(0)
    truth = {"sep_conv_3x3": 0.8, "max_pool_3x3": 1.3, "skip_connect": 1.0, "fixed": 1.1}
    features = [{g: float(rng.uniform(1, 10)) for g in truth} for _ in range(30)]
    measured = [sum(truth[g] * f[g] for g in truth) for f in features]
    fitted = ondevice.fit_scales(features, measured, shrinkage=1e-9)
    assert fitted == pytest.approx(truth, rel=1e-4)
    shrunk = ondevice.fit_scales(features, measured, shrinkage=10.0)  # strong shrinkage: towards 1

    def distance_from_one(scales):
        return sum((scales[g] - 1) ** 2 for g in truth)

    assert distance_from_one(shrunk) < 0.5 * distance_from_one(truth)


def test_nnls_keeps_scales_non_negative_and_matches_least_squares_when_it_can():
    matrix = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert ondevice.nnls(matrix, np.array([2.0, 3.0, 5.0])) == pytest.approx([2.0, 3.0])
    assert ondevice.nnls(matrix, np.array([2.0, -3.0, -1.0])) == pytest.approx([0.5, 0.0])  # by hand


def test_agreement_figures_by_hand():
    stats = ondevice.agreement([10.4, 19.2, 32.8, 41.6], [10.0, 20.0, 30.0, 40.0])
    assert stats["within_5pct"] == 0.75 and stats["within_10pct"] == 1.0  # errors +4%, -4%, +9.3%, +4%
    assert stats["mean_error"] == pytest.approx((0.04 - 0.04 + 2.8 / 30 + 0.04) / 4)
    assert stats["kendall_tau"] == 1.0 and stats["spearman_rho"] == pytest.approx(1.0)
    swapped = ondevice.agreement([2.0, 1.0, 3.0], [1.0, 2.0, 3.0])
    assert swapped["kendall_tau"] == pytest.approx(1 / 3)  # 2 concordant, 1 discordant pair


def test_validate_latency_reports_agreement_and_refits(tmp_path, table_path, capsys):
    copy = tmp_path / "t.json"
    copy.write_text(table_path.read_text())
    out = tmp_path / "validation"
    assert main(["validate-latency", "--table", str(copy), "--samples", "8", "--calibrate", "--out", str(out),
                 "--no-progress", *SHAPE]) == 0
    report = json.loads((out / "validation.json").read_text())
    assert [row["name"] for row in report["rows"]] == [f"random-{i}" for i in range(8)]  # fresh ones, no presets
    calibration = LatencyTable.load(table_path).calibration
    seen = {json.dumps(row["genotype"], sort_keys=True) for row in calibration["networks"]}
    assert not seen & {json.dumps(row["genotype"], sort_keys=True) for row in report["rows"]}  # none it was fitted on
    assert {"within_5pct", "within_10pct", "kendall_tau", "spearman_rho"} <= set(report["agreement"])
    assert len(report["noise_floor"]["estimates_ms"]) >= 3 and report["noise_floor"]["sd"] >= 0
    assert report["refit"]["held_out"]["n"] == 4 and (out / "latency_validation.png").stat().st_size > 1000
    stored = LatencyTable.load(copy).calibration
    assert stored["scales"] == report["refit"]["scales"] and stored["source"].startswith("rapdarts validate")
    printed = capsys.readouterr().out
    assert "held out, refit" in printed and "noise floor: " in printed and "independent estimates" in printed
    assert "19 times in 20" in printed  # how many rounds repeatable figures need here


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
    assert "latency" in out and "measured" in out and "predicted" in out and "calibrated fp32 table" in out


def test_a_latency_budget_through_the_cli_is_judged_on_the_measured_latency(tmp_path, table_path):
    """With a table measured here, the search ends by timing its final network; the report judges that figure."""
    budget = LatencyTable.load(table_path).predict(preset("PDARTS"), TARGET)
    run = tmp_path / "run"
    assert main(["search", "--profile", "tiny", "--device", "cpu", "--no-progress", "--epochs", "1",
                 "--warmup-epochs", "0", "--run-dir", str(run), "--budget", f"latency={budget:.5f}ms",
                 "--cost-option", f"latency.table={table_path}", "--target-channels", "4", "--target-cells", "5"]) == 0
    summary = json.loads((run / "budgets.json").read_text())
    entry = summary["budgets"]["latency"]
    assert entry["judged_on"] == "measured" and entry["measured"] > 0 and 0 < entry["margin"] < 1
    verdict = {"met": True, "missed": False}.get(entry["verdict"])
    assert entry["meets"] is verdict and (verdict is not None or entry["verdict"].startswith("undecided"))
    if entry["meets"]:  # met: under the budget by the margin its measured noise asks for
        assert entry["measured"] * (1 + entry["margin"]) <= entry["budget"] * (1 + 1e-9)
    final = json.loads((run / "genotype.json").read_text())
    chosen = next(a for a in summary["repair"]["architectures"] if a["genotype"] == final)
    assert chosen["confirmed"] and chosen["calls"] == len(chosen["timings"]["latency"]) >= 2
    assert entry["measured"] == chosen["measured"]["latency"]
