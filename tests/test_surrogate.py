"""The latency surrogate: the design, the models on timings of a known law, the model file, the calibration, the
profile's budget and resumption (a scripted runner and clock), refusals, the command line, the device bundle."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rapdarts.cli import main
from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.latency.surrogate import LatencySurrogate, evaluate
from rapdarts.latency.surrogate_cost import surrogate_provider
from rapdarts.latency.surrogate_design import Design, DesignRanges, largest_activation, neighbours
from rapdarts.latency.surrogate_features import op_types
from rapdarts.latency.surrogate_networks import (
    REFERENCE_NAME,
    applied_scales,
    calibrate,
    calibration_helps,
    calibration_plan,
    group_totals,
    judge_networks,
    predicted_entry,
    reference_record,
    why_not_applied,
)
from rapdarts.latency.surrogate_sample import profile_sample
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice import TimingSettings, table_header, write_table
from rapdarts.space.genotype import Genotype, preset
from rapdarts.space.ops import is_zero

OVERHEAD_MS = 0.004
SMALL = DesignRanges((8, 48), (4, 16), (1, 4), 2 ** 15)
"""A region of cheap configurations (their flops are counted quickly)."""


def law_ms(spec: OpSpec) -> float:
    """A latency law the power law can represent exactly: a product of powers of the shape, per op type."""
    scale = 1e-6 * (1 + op_types().index(spec.op))
    return (scale * spec.batch ** 0.95 * spec.C_in ** 0.6 * spec.C_out ** 0.9 * (spec.height * spec.width) ** 0.85
            * spec.stride ** -1.5)


def write_law_table(path: Path, specs: list[OpSpec], settings: TimingSettings = TimingSettings(), **header) -> Path:
    entries = {}
    for spec in specs:
        value = law_ms(spec)
        entries[spec.key()] = {"spec": spec.to_dict(), "group": spec.op if spec.is_cell_op else "fixed",
                               "latency_ms": value, "median_ms": value, "p10_ms": value, "p90_ms": value}
    head = table_header(settings, 1, "float32", len(entries), "tests")
    head.update({"overhead_ms": OVERHEAD_MS, "complete": True, **header})
    write_table(path, head, entries)
    return path


@pytest.fixture(scope="module")
def law_table(tmp_path_factory) -> Path:
    """About 15 configurations of every op type, timed by :func:`law_ms`."""
    return write_law_table(tmp_path_factory.mktemp("law") / "sample.json", Design(1, SMALL).take(200))


@pytest.fixture(scope="module")
def law_surrogate(law_table) -> LatencySurrogate:
    return LatencySurrogate.fit(LatencyTable.load(law_table), kind="powerlaw")


def test_the_design_covers_every_op_type_and_the_ranges():
    ranges = DesignRanges()
    specs = Design(0, ranges).take(400)
    assert {s.op for s in specs} == set(op_types())
    assert len({s.key() for s in specs}) == len(specs)
    assert all(largest_activation(s) <= ranges.max_elements for s in specs)
    cell = [s for s in specs if s.is_cell_op]
    assert {s.stride for s in cell} == {1, 2}
    assert any(s.height % 2 for s in specs) and min(s.height for s in specs) == 4
    assert {s.batch for s in specs} >= {1, 2, 8, 16}
    assert min(s.C_in for s in cell) < 12 and max(s.C_in for s in cell) > 128
    assert Design(0, ranges, position=100).take(20) == specs[100:120]  # a resumed design continues the sequence


def test_neighbours_stay_close_and_inside():
    import random

    spec = OpSpec("relu_conv_bn", 96, 32, 1, 16, 16, 4)
    found = neighbours(spec, 5, random.Random(0), DesignRanges(), {spec.key()})
    assert len(found) == 5 and spec not in found
    for other in found:
        assert other.op == spec.op and other.C_in == 3 * other.C_out  # the channel ratio of its place in a network
        assert 0.5 <= other.C_out / spec.C_out <= 2 and 0.5 <= other.height / spec.height <= 2


def test_the_power_law_recovers_a_known_law(tmp_path):
    one = ("sep_conv_3x3",)
    specs = [s for s in Design(1, SMALL).take(350) if s.op in one]
    table = LatencyTable.load(write_law_table(tmp_path / "t.json", specs))
    surrogate = LatencySurrogate.fit(table)  # auto: cross-validation chooses
    assert surrogate.choice == {"sep_conv_3x3": "powerlaw"}
    cv = surrogate.selection["cv"]["sep_conv_3x3"]
    assert cv["powerlaw"]["mean_abs_log_error"] < cv["boosting"]["mean_abs_log_error"]
    unseen = [s for s in Design(7, SMALL).take(400) if s.op in one]
    predicted = surrogate.predict_specs(unseen)
    measured = np.array([law_ms(s) for s in unseen])
    assert np.abs(predicted / measured - 1).max() < 0.01


def step_ms(spec: OpSpec) -> float:
    """The law with a cache's step, which no feature names: 1.5 times slower where the input outgrows 1,024
    elements (about half of the configurations here)."""
    return law_ms(spec) * (1.5 if spec.C_in * spec.height * spec.width > 1024 else 1.0)


def test_the_boosted_power_law_learns_a_law_with_a_step(tmp_path):
    """A power law cannot represent a step and trees cannot carry a trend between their samples; the power law
    with boosting on its residuals does both, at shapes it was not fitted on."""
    one = ("sep_conv_3x3",)
    specs = [s for s in Design(1, SMALL).take(1000) if s.op in one]
    path = write_law_table(tmp_path / "t.json", specs)
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        value = step_ms(OpSpec(**entry["spec"]))
        entry.update(latency_ms=value, median_ms=value, p10_ms=value, p90_ms=value)
    path.write_text(json.dumps(data))
    table = LatencyTable.load(path)
    unseen = [s for s in Design(7, SMALL).take(400) if s.op in one and s.key() not in table.entries]
    measured = np.array([step_ms(s) for s in unseen])
    errors = {kind: np.abs(LatencySurrogate.fit(table, kind).predict_specs(unseen) / measured - 1)
              for kind in ("powerlaw", "boosting", "boosted_powerlaw")}
    assert np.mean(errors["boosted_powerlaw"] <= 0.10) > max(np.mean(errors[kind] <= 0.10) for kind in errors
                                                            if kind != "boosted_powerlaw")
    assert errors["boosted_powerlaw"].mean() < 0.8 * min(errors["powerlaw"].mean(), errors["boosting"].mean())
    assert LatencySurrogate.fit(table).choice == {"sep_conv_3x3": "boosted_powerlaw"}  # and cross-validation sees it


def test_every_kind_fits_and_an_unknown_one_is_refused(law_table):
    table = LatencyTable.load(law_table)
    keys = [k for k, e in table.entries.items() if e["spec"]["op"] == "sep_conv_5x5"]
    specs = [OpSpec(**table.entries[key]["spec"]) for key in keys]
    for kind, within in (("powerlaw", 0.05), ("boosting", 1.0), ("forest", 1.0), ("boosted_powerlaw", 0.05)):
        surrogate = LatencySurrogate.fit(table, kind, keys)
        assert surrogate.choice == {"sep_conv_5x5": kind}
        ratios = surrogate.predict_specs(specs) / np.array([law_ms(spec) for spec in specs])
        assert np.all(np.abs(np.log(ratios)) < math.log1p(within)), (kind, ratios)
    with pytest.raises(RapdartsError, match="unknown surrogate kind 'tree'"):
        LatencySurrogate.fit(table, "tree", keys)


def test_the_model_file_round_trip(law_surrogate, tmp_path, caplog):
    path = law_surrogate.save(tmp_path / "model.json")
    specs = Design(5, SMALL).take(40)
    again = LatencySurrogate.load(path)
    assert np.array_equal(again.predict_specs(specs), law_surrogate.predict_specs(specs))
    assert again.choice == law_surrogate.choice and again.header == law_surrogate.header
    assert "pickle" not in path.read_text() and json.loads(path.read_text())["format"].endswith("/2")
    data = json.loads(path.read_text())
    data["sklearn"] = "0.0"
    path.write_text(json.dumps(data))
    with caplog.at_level("WARNING", logger="rapdarts"):
        LatencySurrogate.load(path)
    assert "was saved with scikit-learn 0.0" in caplog.text and "moved by up to 0.00%" in caplog.text


@pytest.mark.parametrize("content, message", [
    (None, "does not exist; create it with 'rapdarts surrogate fit"),
    ("{not json", "is corrupt"),
    ('{"format": "something else"}', "is not a rapdarts latency surrogate"),
    ('{"format": "rapdarts-latency-surrogate/1", "features": []}', "made by another rapdarts version"),
])
def test_bad_model_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "model.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RapdartsError, match=message):
        LatencySurrogate.load(path)


def test_a_surrogate_refuses_measurements_and_requests_of_other_settings(law_surrogate, law_table, tmp_path):
    other = write_law_table(tmp_path / "two-threads.json", Design(3, SMALL).take(20), TimingSettings(intra_threads=2))
    with pytest.raises(RapdartsError, match="was measured with intra_threads 2, but the surrogate was fitted"):
        evaluate(law_surrogate, LatencyTable.load(other))
    with pytest.raises(RapdartsError, match="measured with intra_threads 2"):
        LatencySurrogate.fit([LatencyTable.load(law_table), LatencyTable.load(other)])
    path = law_surrogate.save(tmp_path / "model.json")
    for option, value, field in (("surrogate.threads", "2", "intra_threads"),
                                 ("surrogate.optimization", "basic", "optimization"),
                                 ("surrogate.precision", "int8", "precision")):
        provider = surrogate_provider("surrogate", {"surrogate.model": str(path), option: value})
        with pytest.raises(RapdartsError, match=f"fitted on a sample measured with {field}"):
            provider.cost(OpSpec("sep_conv_3x3", 16, 16, 1, 8, 8))
    same = surrogate_provider("surrogate", {"surrogate.model": str(path), "surrogate.threads": "1"})
    assert same.cost(OpSpec("sep_conv_3x3", 16, 16, 1, 8, 8)) > 0
    foreign = LatencySurrogate.load(path)
    foreign.header = {**foreign.header, "device": "a phone"}
    with pytest.raises(RapdartsError, match="timed on a phone .*networks cannot be timed here"):
        judge_networks(foreign, TargetNetwork(), 2)
    with pytest.raises(RapdartsError, match="timed with the surrogate's intra_threads"):
        judge_networks(LatencySurrogate.load(path), TargetNetwork(), 2, settings=TimingSettings(intra_threads=2))


class LawPredictor:
    """A stand-in surrogate that predicts :func:`law_ms` exactly (no models to fit)."""

    header = {"overhead_ms": OVERHEAD_MS}

    def predicted_entries(self, specs, context=True):
        return {spec.key(): predicted_entry(spec, law_ms(spec) + OVERHEAD_MS) for spec in specs}


def test_the_calibration_recovers_per_group_scales_across_widths_and_batches():
    truth = {"sep_conv_3x3": 1.2, "sep_conv_5x5": 1.1, "dil_conv_3x3": 0.95, "dil_conv_5x5": 1.05,
             "max_pool_3x3": 1.0, "avg_pool_3x3": 1.0, "skip_connect": 1.0, "fixed": 1.15}
    predictor = LawPredictor()
    plan = calibration_plan(varied=4, seed=0, shape=DataShape(10, 1, (8, 8)))
    assert {(r["target"]["init_channels"], r["target"]["batch"]) for r in plan} == {(16, 1), (36, 1), (16, 4), (36, 4)}
    records = []
    for record in plan:
        totals = group_totals(predictor, Genotype.from_dict(record["genotype"], "test"),
                              TargetNetwork.from_dict(record["target"]))
        measured = sum(truth[g] * value for g, value in totals.items())
        records.append({**record, "blocks_ms": [[measured]], "latency_ms": measured})
    fitted = calibrate(predictor, records)
    held, plain = fitted["held_out"], fitted["held_out_uncalibrated"]
    residuals = fitted["residual_by_shape"].values()
    assert fitted["applied"] and max(residuals) - min(residuals) < 0.01
    assert held["within_5pct"] == 1.0 and held["mean_abs_error"] < plain["mean_abs_error"] / 3
    unseen = fitted["unseen_shape"]  # one law at every shape: a shape left out of the fit is priced as well
    assert set(unseen["mean_error_by_shape"]) == {"C16-b1", "C36-b1", "C16-b4", "C36-b4"}
    assert unseen["agreement"]["within_5pct"] == 1.0 and unseen["agreement"]["n"] == len(records)
    assert unseen["agreement"]["mean_abs_error"] < unseen["uncalibrated"]["mean_abs_error"] / 3
    for group, scale in truth.items():  # fit_scales shrinks towards 1 (the ops are right), so: towards the truth
        assert abs(fitted["scales"][group] - scale) <= abs(1 - scale) + 0.02, group
        assert (fitted["scales"][group] - 1) * (scale - 1) >= 0, group


def test_a_calibration_that_predicts_held_out_networks_worse_than_the_op_sums_is_not_applied():
    """Op sums off by a factor that changes with width: one scale per group cannot hold, and is not used."""
    predictor = LawPredictor()
    records = []
    for record in calibration_plan(varied=4, seed=0, shape=DataShape(10, 1, (8, 8))):
        target = TargetNetwork.from_dict(record["target"])
        plain = sum(group_totals(predictor, Genotype.from_dict(record["genotype"], "test"), target).values())
        factor = {16: 0.75, 36: 1.02}[target.init_channels] * (1.04 if record["role"] == "held_out" else 1.0)
        records.append({**record, "blocks_ms": [[plain * factor]], "latency_ms": plain * factor})
    fitted = calibrate(predictor, records)
    assert not calibration_helps(fitted["held_out"], fitted["held_out_uncalibrated"], fitted["residual_by_shape"])
    assert fitted["residual_by_shape"]["C16-b1"] < fitted["residual_by_shape"]["C36-b1"] - 0.1
    assert fitted["applied"] is False and fitted["scales"] == {} and fitted["fitted_scales"]
    assert applied_scales(fitted) is None and applied_scales(None) is None
    assert "left networks of different shapes" in why_not_applied(fitted)
    by_shape = fitted["unseen_shape"]["mean_error_by_shape"]  # left out, a C=16 shape is priced mostly by C=36 ones
    assert by_shape["C16-b1"] > 0.10 and by_shape["C16-b4"] > 0.10
    assert by_shape["C36-b1"] < -0.05 and by_shape["C36-b4"] < -0.05


def test_a_calibration_that_prices_a_left_out_shape_worse_than_the_op_sums_is_not_applied():
    held, plain = {"mean_abs_error": 0.02}, {"mean_abs_error": 0.08}
    residuals = {"C16-b1": 1.0, "C36-b1": 1.02}

    def unseen(calibrated: float, sums: float) -> dict:
        return {"agreement": {"mean_abs_error": calibrated}, "uncalibrated": {"mean_abs_error": sums}}

    assert calibration_helps(held, plain, residuals, unseen(0.05, 0.08))
    assert calibration_helps(held, plain, residuals, None)  # a single calibration shape: nothing to leave out
    assert not calibration_helps(held, plain, residuals, unseen(0.12, 0.08))
    assert not calibration_helps(held, plain, {"C16-b1": 0.85, "C36-b1": 1.02}, unseen(0.05, 0.08))
    refused = {"held_out": held, "held_out_uncalibrated": plain, "residual_by_shape": residuals,
               "unseen_shape": unseen(0.12, 0.08)}
    assert why_not_applied(refused) == "priced a shape left out of the fit no better than the sums of ops"
    refused["held_out"] = {"mean_abs_error": 0.09}
    assert why_not_applied(refused).startswith("predicted the held-out networks no better than the sums of ops and ")


def test_a_search_prices_a_network_as_the_sum_of_its_op_costs(law_surrogate, tmp_path):
    """The calibration is a scale per op group, so ``cost(spec)`` summed over a network is the network's price."""
    law_surrogate.calibration = {"scales": {"sep_conv_3x3": 1.2, "fixed": 0.9}, "fitted_on": 4}
    path = law_surrogate.save(tmp_path / "calibrated.json")
    provider = surrogate_provider("surrogate", {"surrogate.model": str(path)})
    target = TargetNetwork(DataShape(10, 1, (8, 8)), 12, 5, batch=2)
    genotype = preset("DARTS_V2")
    summed = sum(provider.cost(spec) for spec in target.genotype_specs(genotype) if not is_zero(spec.op))
    assert summed == pytest.approx(LatencySurrogate.load(path).predict_network(genotype, target), rel=1e-9)
    plain = LatencySurrogate.load(path).predict_network(genotype, target, calibrated=False)
    assert summed != pytest.approx(plain, rel=1e-3)
    law_surrogate.calibration = None


def test_a_search_is_told_what_error_to_expect_at_a_shape_nobody_profiled(law_surrogate, tmp_path):
    unseen = {"agreement": {"mean_abs_error": 0.04, "within_10pct": 0.9},
              "uncalibrated": {"mean_abs_error": 0.27, "within_10pct": 0.33}, "mean_error_by_shape": {}}
    target = TargetNetwork(DataShape(10, 1, (8, 8)), 12, 5)
    for scales, expected in (({"fixed": 0.9}, "its scales priced a calibration shape left out of their fit with "
                                               "mean |error| 4% (90% within 10%)"),
                             ({}, "its sums of ops priced the calibration networks with mean |error| 27% (33% within "
                                  "10%)")):
        law_surrogate.calibration = {"scales": scales, "fitted_on": 25, "unseen_shape": unseen}
        path = law_surrogate.save(tmp_path / "calibrated.json")
        note = surrogate_provider("surrogate", {"surrogate.model": str(path)}).target_note(target)
        assert expected in note and "expect about that at a width or batch nobody profiled" in note
    law_surrogate.calibration = None


class ScriptedDevice:
    """A runner whose op times follow the input's size and a clock that only its runs advance (0.2 s a session)."""

    def __init__(self, fail_after: int | None = None, factor: float = 1.0):
        self.now = 0.0
        self.calls = 0
        self.fail_after = fail_after
        self.factor = factor
        """How much slower than usual the machine runs (a drift)."""

    def clock(self) -> float:
        return self.now

    def runner(self, model, inputs, settings):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        self.now += 0.2
        return [self.factor * scripted_ms(inputs.size)] * settings.repeats


def scripted_ms(size: int) -> float:
    return 1e-5 * size ** 0.9 + 0.003


FAST = TimingSettings(warmup=1, repeats=4, sessions=2, block=2, extra_sessions=0)


def test_a_profile_keeps_its_budget_and_continues_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr("rapdarts.latency.surrogate_sample.ADAPTIVE_AFTER", 30)
    out = tmp_path / "sample.json"
    device = ScriptedDevice()
    first = profile_sample(out, FAST, minutes=0.2, ranges=SMALL, networks=0, progress=False, runner=device.runner,
                           clock=device.clock)
    assert first["stopped"] == "budget" and 20 <= first["samples"] and first["minutes"] <= 0.2 + 0.2 / 60
    table = LatencyTable.load(out)  # a sample is a latency table of many shapes
    state = table.header["surrogate_sample"]
    assert table.header["overhead_ms"] > 0 and state["finished"] and not state["partial"]
    kept = dict(table.entries)
    second = profile_sample(out, FAST, minutes=1.0, ranges=SMALL, networks=0, progress=False, runner=device.runner,
                            clock=device.clock)
    again = LatencyTable.load(out)
    assert second["samples"] > first["samples"] and all(again.entries[k] == v for k, v in kept.items())
    assert second["minutes"] <= 1.0 + 0.2 / 60 and second["adaptive_rounds"] >= 1
    rounds = again.header["surrogate_sample"]["rounds"]
    assert any(r["added"] for r in rounds), rounds
    with pytest.raises(RapdartsError, match="is timed with sessions 2, not 4"):
        profile_sample(out, replace(FAST, sessions=4), minutes=2, ranges=SMALL, networks=0, progress=False)
    with pytest.raises(RapdartsError, match="follows the design of seed 0"):
        profile_sample(out, FAST, minutes=2, seed=1, ranges=SMALL, networks=0, progress=False)


def test_an_interrupted_profile_keeps_its_sessions(tmp_path):
    out = tmp_path / "sample.json"
    with pytest.raises(KeyboardInterrupt):
        profile_sample(out, FAST, minutes=1, ranges=SMALL, networks=0, progress=False,
                       runner=ScriptedDevice(fail_after=30).runner, clock=ScriptedDevice().clock)
    state = json.loads(out.read_text())["header"]["surrogate_sample"]
    assert state["partial"] and not state["finished"]
    device = ScriptedDevice()
    profile_sample(out, FAST, minutes=0.2, ranges=SMALL, networks=0, progress=False, runner=device.runner,
                   clock=device.clock)
    table = LatencyTable.load(out)
    ops = {name for name in state["partial"] if not name.startswith("chain:")}
    assert ops - {"call overhead", REFERENCE_NAME} <= set(table.entries)
    chains = {name.removeprefix("chain:") for name in state["partial"]} - ops  # chains are finished with their op
    assert chains <= {key for key, entry in table.entries.items() if entry.get("chain_ms")}
    for name, blocks in state["partial"].items():  # the sessions timed before the interruption count
        if name in table.entries:
            assert table.entries[name]["blocks_ms"][:len(blocks)] == blocks


def test_the_command_line_fits_and_evaluates(law_table, tmp_path, capsys):
    model = tmp_path / "model.json"
    assert main(["surrogate", "fit", str(law_table), "--out", str(model), "--kind", "powerlaw"]) == 0
    out = capsys.readouterr().out
    assert "uncalibrated" in out and str(model) in out
    unseen = write_law_table(tmp_path / "unseen.json", Design(9, SMALL).take(60))
    assert main(["surrogate", "evaluate", str(model), "--table", str(unseen)]) == 0
    out = capsys.readouterr().out
    assert "within 5%" in out and "overall" in out
    assert main(["surrogate", "evaluate", str(model)]) == 2
    assert "give --table TABLE" in capsys.readouterr().err
    assert main(["surrogate", "profile", "--out", str(tmp_path / "s.json"), "--channels", "8-256"]) == 2
    assert "MIN:MAX" in capsys.readouterr().err
    bundle = tmp_path / "bundle"
    assert main(["surrogate", "export", str(bundle), "--samples", "6", "--channels", "8:16", "--resolution", "4:8",
                 "--batches", "1:2", "--no-progress"]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert len(manifest["entries"]) == 6 and (bundle / "profile_ops.py").exists() and manifest["networks"] == []
    assert main(["surrogate", "export", str(bundle), "--samples", "6"]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_an_empty_sample_is_refused(tmp_path, capsys):
    empty = write_law_table(tmp_path / "empty.json", [])
    assert main(["surrogate", "fit", str(empty), "--out", str(tmp_path / "m.json")]) == 2
    assert "a surrogate needs at least 5" in capsys.readouterr().err


@pytest.mark.slow
def test_a_device_bundle_of_the_design_is_timed_by_the_device_profiler_and_fitted(tmp_path):
    from rapdarts.latency.surrogate_export import export_sample
    from rapdarts.ondevice import table_from_export

    tiny = DesignRanges((8, 16), (4, 8), (1, 2), 2 ** 12)
    assert export_sample(tmp_path / "bundle", 30, ranges=tiny, progress=False) == 30
    table = table_from_export(tmp_path / "bundle", settings=TimingSettings(warmup=1, repeats=3, sessions=1),
                              progress=None)
    surrogate = LatencySurrogate.fit(LatencyTable.load(table), kind="powerlaw")
    assert surrogate.calibration is None and len(surrogate.keys) == 30
    assert all(math.isfinite(v) and v > 0 for v in surrogate.predict_specs(Design(0, tiny).take(30)))


def test_a_profile_times_its_reference_network_in_every_chunk_and_reports_the_drift(tmp_path):
    """The machine runs 30% slower when the profile is continued: the reference network's chunks say so."""
    out = tmp_path / "sample.json"
    device = ScriptedDevice()
    first = profile_sample(out, FAST, minutes=0.2, ranges=SMALL, networks=0, progress=False, runner=device.runner,
                           clock=device.clock)
    state = LatencyTable.load(out).header["surrogate_sample"]
    reference = state["reference"]
    quiet = scripted_ms(3 * 32 * 32)  # the reference is a CIFAR-sized network
    assert len(reference["chunks"]) == state["chunks"] >= 2 and reference["latency_ms"] == pytest.approx(quiet)
    assert first["reference"]["spread"] == pytest.approx(0.0) and first["reference"]["chunks"] == state["chunks"]
    device.factor = 1.3
    second = profile_sample(out, FAST, minutes=0.4, ranges=SMALL, networks=0, progress=False, runner=device.runner,
                            clock=device.clock)
    drift = second["reference"]
    assert drift["slowest_chunk"] / drift["fastest_chunk"] == pytest.approx(1.3) and drift["spread"] > 0.2
    assert drift["chunks"] > first["reference"]["chunks"]


def test_judging_times_the_reference_in_the_same_rounds_and_takes_the_drift_out(law_surrogate, tmp_path,
                                                                                  monkeypatch):
    """Networks and the reference timed 20% slower than when profiled: the drift is 1.2, and the drift-corrected
    prediction is the prediction times 1.2; a sample without a reference gets no drift (and is not guessed)."""
    from rapdarts import ondevice

    device = ScriptedDevice(factor=1.2)
    timed = []
    real = ondevice.time_models

    def scripted(models, settings, seed=0):
        timed.append([name for name, _, _ in models])
        return real(models, settings, seed=seed, runner=device.runner)

    monkeypatch.setattr(ondevice, "time_models", scripted)
    surrogate = LatencySurrogate.load(law_surrogate.save(tmp_path / "model.json"))
    target = TargetNetwork(DataShape(10, 1, (8, 8)), 8, 3)
    plain = judge_networks(surrogate, target, 3)
    assert plain["reference"]["drift"] is None and plain["agreement_drift_corrected"] is None
    assert len(timed[-1]) == 3 and all(row["drift_corrected_ms"] is None for row in plain["rows"])
    reference = {**reference_record(), "latency_ms": scripted_ms(3 * 32 * 32)}
    surrogate.header = {**surrogate.header, "surrogate_sample": {"reference": reference}}
    judged = judge_networks(surrogate, target, 3)
    assert len(timed[-1]) == 4 and judged["reference"]["drift"] == pytest.approx(1.2)
    for row, before in zip(judged["rows"], plain["rows"]):
        assert row["measured_ms"] == pytest.approx(before["measured_ms"])  # timed in the same rounds, unchanged
        assert row["drift_corrected_ms"] == pytest.approx(row["predicted_ms"] * 1.2)
    assert judged["agreement_drift_corrected"]["n"] == 3
    assert judged["reference"]["profile_range"] is None  # no chunks recorded: nothing to judge the drift against


@pytest.mark.parametrize(("chunk_levels", "beyond"), [((0.95, 1.05), True), ((0.9, 1.3), False)])
def test_a_drift_is_judged_against_the_references_own_range_while_profiling(law_surrogate, tmp_path, monkeypatch,
                                                                             chunk_levels, beyond):
    """A 1.2x drift is a changed machine only if the reference never ran that slow during the profile itself."""
    from rapdarts import ondevice

    device = ScriptedDevice(factor=1.2)
    real = ondevice.time_models
    monkeypatch.setattr(ondevice, "time_models",
                        lambda models, settings, seed=0: real(models, settings, seed=seed, runner=device.runner))
    surrogate = LatencySurrogate.load(law_surrogate.save(tmp_path / "model.json"))
    level = scripted_ms(3 * 32 * 32)
    reference = {**reference_record(), "latency_ms": level,
                 "chunks": [{"latency_ms": level * factor} for factor in (*chunk_levels, 1.0)]}
    surrogate.header = {**surrogate.header, "surrogate_sample": {"reference": reference}}
    judged = judge_networks(surrogate, TargetNetwork(DataShape(10, 1, (8, 8)), 8, 3), 3)["reference"]
    assert judged["drift"] == pytest.approx(1.2)
    assert judged["profile_range"] == pytest.approx(list(chunk_levels))
    assert judged["beyond_profile_range"] is beyond
