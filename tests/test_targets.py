"""Deployment targets: instances NAME@TARGET of a provider, the table catalogue, int8, device identity, GPU providers.

Two synthetic latency tables stand for two devices whose op rankings disagree: on ``phone`` the
separable convolutions are cheap and the pools dear, on ``server`` the other way round. They were
"measured" elsewhere, so budgets on them are judged on their predictions, and one search must meet
both at once.
"""

from __future__ import annotations

import json

import pytest

from rapdarts.api import search
from rapdarts.cli import main
from rapdarts.costs import CostCache, OpSpec, TargetNetwork, genotype_costs
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.latency import catalogue
from rapdarts.latency.maker import target_specs
from rapdarts.ondevice import TimingSettings, measured_here, table_header, write_table
from rapdarts.ondevice.machine import machine_identity
from rapdarts.ondevice.timing import ort_module
from rapdarts.plugins import CostProvider, hookimpl
from rapdarts.plugins.instances import check_instance_options, provider_options, split_instance
from rapdarts.plugins.manager import discover_providers
from rapdarts.search.config import profile_config
from rapdarts.space.genotype import Genotype, preset

TARGET = TargetNetwork(DataShape(10, 1, (8, 8)), 4, 5)
"""The evaluation network the tables price: digits input, C=4, 5 cells (what --target-channels 4 --target-cells 5
asks a tiny search to price)."""
PHONE = {"sep_conv": 0.02, "dil_conv": 0.03, "pool": 0.20, "skip": 0.15}
SERVER = {"sep_conv": 0.25, "dil_conv": 0.20, "pool": 0.02, "skip": 0.03}


def synthetic_table(path, per_family: dict[str, float], device: str, precision: str = "fp32"):
    """A complete, uncalibrated table of every op TARGET needs, priced by op family, made on ``device``."""
    settings = TimingSettings(precision=precision)
    header = table_header(settings, 1, "float32", 0, "a test", TARGET.to_dict())
    header.update(device=device, overhead_ms=0.0, complete=True)
    entries = {}
    for spec in target_specs(TARGET):
        value = per_family.get(spec.family, 0.01)
        entries[spec.key()] = {"spec": spec.to_dict(), "group": spec.op if spec.is_cell_op else "fixed",
                               "latency_ms": value, "median_ms": value, "p10_ms": value, "p90_ms": value}
    write_table(path, header, entries)
    return path


@pytest.fixture
def two_devices(tmp_path):
    return (synthetic_table(tmp_path / "phone.json", PHONE, "a phone"),
            synthetic_table(tmp_path / "server.json", SERVER, "a server"))


def test_instance_names_and_their_options():
    assert split_instance("latency@phone") == ("latency", "phone") and split_instance("params") == ("params", "")
    for bad in ("latency@", "@phone", "latency@ph one", "latency@phone."):
        with pytest.raises(RapdartsError, match="NAME@TARGET"):
            split_instance(bad)
    options = {"latency.table": "a.json", "latency@phone.table": "p.json", "latency@phone.threads": "2"}
    assert provider_options(options, "latency@phone") == {"latency.table": "p.json", "latency.threads": "2"}
    assert provider_options(options, "latency") == {"latency.table": "a.json"}  # never an instance's options
    check_instance_options(options, ["latency@phone"])
    with pytest.raises(RapdartsError, match="no cost, budget or report cost uses 'latency@phone'"):
        check_instance_options(options, ["latency"])


def test_each_instance_gets_its_own_options_and_cache_key(two_devices, tmp_path):
    phone, server = two_devices
    providers = discover_providers(options={"latency@phone.table": str(phone), "latency@server.table": str(server)})
    a, b = providers.get("latency@phone"), providers.get("latency@server")
    assert a.name == "latency@phone" and a.options == (("latency.table", str(phone)),) and a.unit == "ms"
    spec = next(s for s in target_specs(TARGET) if s.family == "pool")
    assert a.cost(spec) == pytest.approx(PHONE["pool"]) and b.cost(spec) == pytest.approx(SERVER["pool"])
    params = providers.get("params@phone")  # any provider has instances: same numbers, its own cache file
    cache = CostCache(tmp_path / "cache")
    assert cache._file(params) != cache._file(providers.get("params"))
    assert genotype_costs(preset("PDARTS"), [params], TARGET, cache)["params@phone"] == \
        genotype_costs(preset("PDARTS"), [providers.get("params")], TARGET, cache)["params"]


class UnitByOption:
    @hookimpl
    def rapdarts_cost_providers(self, options):
        unit = options.get("energy.unit", "mJ")
        return [CostProvider("energy", unit, "an energy per op", lambda spec: 1.0)]


def test_two_instances_in_different_units_are_refused():
    providers = discover_providers(plugins=[UnitByOption()], options={"energy@edge.unit": "uJ"})
    with pytest.raises(RapdartsError, match="'energy@edge' is in 'uJ' but 'energy' is in 'mJ'"):
        providers.get("energy@edge")


def test_unknown_target_and_unused_instance_options_are_one_line_errors(tmp_path, capsys):
    status = main(["cost", "PDARTS", "--cost", "latency@nowhere", "--dataset", "digits"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "unknown target 'nowhere'" in err and "rapdarts profile --name nowhere" in err, err
    assert len(err.splitlines()) == 1
    status = main(["search", "--profile", "tiny", "--cost", "params=1e-7", "--cost-option", "latency@x.table=t.json",
                   "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "no cost, budget or report cost uses 'latency@x'" in err, err
    assert not (tmp_path / "runs").exists()


def test_an_int8_table_where_fp32_is_expected_is_refused(tmp_path, capsys):
    table = synthetic_table(tmp_path / "int8.json", PHONE, "a phone", precision="int8")
    status = main(["cost", "PDARTS", "--cost", "latency", "--cost-option", f"latency.table={table}",
                   "--cost-option", "latency.precision=fp32", "--dataset", "digits", "--init-channels", "4",
                   "--cells", "5"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "was measured with precision 'int8', but 'fp32' is asked for" in err, err


def test_the_catalogue_finds_tables_by_name(two_devices, capsys):
    phone, _ = two_devices
    assert main(["tables", "add", str(phone), "--name", "phone"]) == 0
    assert catalogue.find("phone") is not None
    assert main(["tables"]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if line.strip().startswith("phone"))
    assert "a phone" in row and "fp32" in row and "CPU" in row
    provider = discover_providers().get("latency@phone")  # no table option: the catalogue's table named phone
    spec = next(s for s in target_specs(TARGET) if s.family == "sep_conv")
    assert provider.cost(spec) == pytest.approx(PHONE["sep_conv"])
    assert main(["tables", "add", str(phone), "--name", "phone"]) == 2  # not replaced by accident
    assert "already has a table named 'phone'" in capsys.readouterr().err


@pytest.mark.slow
def test_one_search_meets_two_latency_budgets_whose_rankings_disagree(two_devices, tmp_path):
    phone, server = two_devices
    providers = discover_providers(options={"latency@phone.table": str(phone), "latency@server.table": str(server)})
    # Budgets a mixed architecture meets (so both can be met at once), tighter for each device than what the
    # architecture cheapest on the other device costs there: neither device's favourite ops meet both.
    mixed = Genotype.from_dict({"normal": [["sep_conv_3x3", 0], ["max_pool_3x3", 1], ["dil_conv_3x3", 0],
                                           ["skip_connect", 1], ["sep_conv_3x3", 1], ["avg_pool_3x3", 2],
                                           ["dil_conv_5x5", 0], ["max_pool_3x3", 3]], "normal_concat": [2, 3, 4, 5],
                                "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1], ["avg_pool_3x3", 0],
                                           ["dil_conv_3x3", 2], ["sep_conv_5x5", 1], ["max_pool_3x3", 0],
                                           ["dil_conv_3x3", 2], ["skip_connect", 1]], "reduce_concat": [2, 3, 4, 5]})
    names = ("latency@phone", "latency@server")
    mixed_costs = genotype_costs(mixed, [providers.get(n) for n in names], TARGET)
    config = profile_config("tiny").updated({
        "device": "cpu", "threads": 1, "epochs": 2, "warmup_epochs": 1, "train_subset": 256, "cells": (1, 1, 1),
        "target_channels": 4, "target_cells": 5,
        "budgets": {name: f"{1.03 * mixed_costs[name]:.4f}ms" for name in names},
        "cost_options": {"latency@phone.table": str(phone), "latency@server.table": str(server)}})
    result = search(config, run_dir=tmp_path / "run", show_progress=False)
    summary = json.loads((result.run_dir / "budgets.json").read_text())
    for name in ("latency@phone", "latency@server"):
        entry = summary["budgets"][name]
        assert entry["judged_on"] == "predicted" and entry["meets"], (name, entry)
        assert entry["final"] == pytest.approx(genotype_costs(result.genotype, [providers.get(name)], TARGET)[name])
        assert f"{name}: the latency table" in summary["timing"] and "judged on its calibrated prediction" in \
            summary["timing"]
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"latency@phone", "latency@server"} <= set(lines[-1]["budgets"])  # metrics label each instance


def test_the_device_identity_tells_machines_apart():
    identity = machine_identity()
    assert {"device", "cpus", "memory_gb", "onnxruntime", "onnxruntime_build"} <= set(identity)
    here = {**identity, "provider": "CPUExecutionProvider"}
    assert measured_here(here)
    assert not measured_here({**here, "cpus": (identity["cpus"] or 1) + 1})  # another board with the same CPU name
    assert not measured_here({**here, "memory_gb": (identity["memory_gb"] or 1) * 2})
    assert measured_here({"device": identity["device"], "onnxruntime": identity["onnxruntime"],
                          "provider": "CPUExecutionProvider"})  # a table made before the identity grew


def test_a_table_made_elsewhere_or_at_another_precision_is_not_extended(two_devices, tmp_path, capsys):
    phone, _ = two_devices
    status = main(["profile", "--out", str(phone), "--dataset", "digits", "--init-channels", "4", "--cells", "5",
                   "--networks", "0", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "was measured on a phone" in err and "cannot be extended here" in err, err
    here = synthetic_table(tmp_path / "int8.json", PHONE, machine_identity()["device"], precision="int8")
    status = main(["profile", "--out", str(here), "--dataset", "digits", "--init-channels", "4", "--cells", "5",
                   "--networks", "0", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "holds int8 timings and this profile measures fp32" in err, err


def test_int8_without_calibration_images_says_what_to_give(tmp_path, capsys):
    status = main(["profile", "--out", str(tmp_path / "t.json"), "--precision", "int8", "--networks", "0",
                   "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "--calibration-images" in err and not (tmp_path / "t.json").exists(), err


@pytest.mark.slow
def test_an_int8_profile_records_its_precision_and_validates(tmp_path, capsys):
    table = tmp_path / "int8.json"
    assert main(["profile", "--out", str(table), "--name", "digits8", "--precision", "int8", "--dataset", "digits",
                 "--init-channels", "4", "--cells", "5", "--networks", "6", "--sessions", "2", "--repeats", "10",
                 "--no-progress"]) == 0
    header = json.loads(table.read_text())["header"]
    assert header["precision"] == "int8" and header["int8_calibration"]["source"] == "digits"
    assert header["calibration"]["held_out"]["n"] == 2
    assert catalogue.find("digits8") is not None
    out = tmp_path / "validation"
    assert main(["validate-latency", "--table", str(table), "--samples", "3", "--out", str(out), "--dataset",
                 "digits", "--init-channels", "4", "--cells", "5", "--no-progress"]) == 0
    assert "calibrated int8 table" in capsys.readouterr().out


@pytest.mark.slow
def test_export_int8_reports_the_test_accuracy_of_both_precisions(tiny_training, tmp_path, capsys):
    assert main(["export", str(tiny_training), "--onnx", str(tmp_path / "m.onnx"), "--int8",
                 str(tmp_path / "m.int8.onnx"), "--test-subset", "100"]) == 0
    out = capsys.readouterr().out
    assert "int8 (static QDQ" in out and "fp32" in out and "points)" in out
    assert (tmp_path / "m.int8.onnx").stat().st_size > 0


def test_quantized_ops_keep_their_shape():
    import numpy as np
    import torch

    from rapdarts.costs import build_module, example_input
    from rapdarts.deploy.onnx_export import export_onnx
    from rapdarts.deploy.quantize import quantize_int8
    from rapdarts.ondevice import make_session

    spec = OpSpec("sep_conv_3x3", 8, 8, 1, 8, 8)
    data = export_onnx(build_module(spec), example_input(spec))
    calibration = [torch.randn(1, 8, 8, 8).numpy() for _ in range(4)]
    quantized = quantize_int8(data, calibration, "a test op")
    session = make_session(quantized, TimingSettings())
    out = session.run(None, {session.get_inputs()[0].name: calibration[0]})[0]
    assert out.shape == (1, 8, 8, 8) and np.isfinite(out).all()
    assert b"QuantizeLinear" in quantized and b"QuantizeLinear" not in data


GPU = "CUDAExecutionProvider"


@pytest.mark.skipif(GPU not in ort_module().get_available_providers(),
                    reason="CUDAExecutionProvider is not in this onnxruntime (pip install 'rapdarts[gpu]' on a CUDA "
                    "machine; benchmarks/gpu_check.sh profiles with it)")
def test_a_table_on_the_cuda_execution_provider(tmp_path):
    assert main(["profile", "--out", str(tmp_path / "gpu.json"), "--provider", GPU, "--dataset", "digits",
                 "--init-channels", "4", "--cells", "5", "--networks", "6", "--sessions", "2", "--no-progress"]) == 0
    assert json.loads((tmp_path / "gpu.json").read_text())["header"]["provider"] == GPU


def test_a_missing_gpu_provider_is_a_one_line_error_naming_the_extra(tmp_path, capsys):
    if GPU in ort_module().get_available_providers():
        pytest.skip("this onnxruntime has the CUDA execution provider")
    status = main(["profile", "--out", str(tmp_path / "gpu.json"), "--provider", GPU, "--networks", "0"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "'CUDAExecutionProvider' is not available" in err and "rapdarts[gpu]" in err, err
