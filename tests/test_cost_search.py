"""Costs inside the search: lambda 0 changes nothing, a large lambda buys parameter-free cells,
and a third-party plugin installed as its own package is found and used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rapdarts.api import search
from rapdarts.cli import main
from rapdarts.costs import CostCache, TargetNetwork, genotype_costs
from rapdarts.data import DataShape
from rapdarts.plugins.manager import discover_providers

REPO = Path(__file__).resolve().parents[1]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_lambda_zero_reproduces_the_cost_free_search_exactly(tiny_search, tiny_config, tmp_path):
    result = search(tiny_config.updated({"costs": {"params": 0.0}}), run_dir=tmp_path, show_progress=False)
    assert result.genotype == tiny_search.genotype
    assert _lines(tmp_path / "alphas.jsonl") == _lines(tiny_search.run_dir / "alphas.jsonl")
    assert "params" in result.metrics[-1]["expected_cost"]  # still measured and reported


@pytest.mark.slow
def test_a_large_params_lambda_drives_the_search_to_parameter_free_ops(tiny_config, tmp_path):
    result = search(tiny_config.updated({"costs": {"params": 1e-3}}), run_dir=tmp_path, show_progress=False)
    params = discover_providers().get("params")
    target = TargetNetwork(DataShape(10, 1, (8, 8)))
    cost = genotype_costs(result.genotype, [params], target, CostCache(use_disk=False))["params"]
    fixed = sum(params.cost(spec) for spec in target.fixed_specs())
    assert cost == fixed, f"cells still hold {cost - fixed:,.0f} parameters: {result.genotype.describe()}"
    expected = [row["expected_cost"]["params"] for row in result.metrics]
    assert expected[-1] < expected[0]
    assert (tmp_path / "plots" / "costs.png").exists()


@pytest.mark.slow
def test_cost_metrics_are_logged_per_epoch(tiny_config, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["search", "--profile", "tiny", "--device", "cpu", "--no-progress", "--epochs", "2", "--warmup-epochs", "1",
            "--cost", "params=1e-7", "--cost", "flops=1e-9", "--run-dir", str(run)]
    assert main(args) == 0
    rows = _lines(run / "metrics.jsonl")
    assert all(set(row["expected_cost"]) == {"params", "flops"} == set(row["genotype_cost"]) for row in rows)
    log = (run / "search.log").read_text()
    assert "params expected" in log and "flops expected" in log
    config = json.loads((run / "config.json").read_text())
    assert config["costs"] == {"params": 1e-7, "flops": 1e-9}


@pytest.mark.parametrize("args, message", [
    (["--cost", "latencyy=1"], "unknown cost 'latencyy'; available costs:"),
    (["--cost", "params=-1"], "'costs', entry 'params' = -1.0 is not allowed: it must be a number >= 0"),
    (["--cost", "params=lots"], "'lots' is not a number"),
    (["--cost", "params=nan"], "entry 'params' = nan is not allowed"),
    (["--cost-option", "novalue"], "must look like KEY=VALUE"),
])
def test_bad_cost_arguments(args, message, capsys, tmp_path):
    status = main(["search", "--profile", "tiny", "--run-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing created before the error


def test_cost_command_cross_checks_params(capsys):
    assert main(["cost", "PDARTS", "--cost", "params", "--cost", "flops"]) == 0
    out = capsys.readouterr().out
    assert "3,433,798 parameters" in out and "(matches)" in out and "flops" in out


@pytest.mark.slow
def test_third_party_plugin_package_is_discovered_and_used(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO / "examples" / "custom-cost-plugin")], check=True,
                   capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    listed = subprocess.run([sys.executable, "-m", "rapdarts", "costs"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("memory_traffic"))
    assert "bytes" in line and "rapdarts-memory-traffic 0.1.0" in line
    run = tmp_path / "run"
    searched = subprocess.run([sys.executable, "-m", "rapdarts", "search", "--profile", "tiny", "--device", "cpu",
                               "--epochs", "1", "--warmup-epochs", "0", "--no-progress", "--run-dir", str(run),
                               "--cost", "memory_traffic=1e-9"], env=env, capture_output=True, text=True)
    assert searched.returncode == 0, searched.stderr
    rows = _lines(run / "metrics.jsonl")
    assert rows[-1]["expected_cost"]["memory_traffic"] > 0 and rows[-1]["cost_units"]["memory_traffic"] == "bytes"
