"""The lambda sweep: drawing and refining lambdas, parallel runs, resume, the Ray backend, bad input."""

from __future__ import annotations

import csv
import json
import math
import os

import pytest

from rapdarts.api import search
from rapdarts.cli import main
from rapdarts.search.config import profile_config
from rapdarts.sweep.backends import run_sample
from rapdarts.sweep.plan import draw_lambdas, plan_sweep, refined_range, sample_config
from rapdarts.sweep.runner import Sweep, SweepOptions, load_sweep, start_sweep

SMALL = ["--profile", "tiny", "--device", "cpu", "--epochs", "1", "--warmup-epochs", "0", "--train-subset", "256",
         "--cells", "1,1,1"]


def _config():
    return profile_config("tiny").updated({"device": "cpu", "threads": 1, "epochs": 1, "warmup_epochs": 0,
                                           "train_subset": 256, "cells": (1, 1, 1)})


def _row(index: int, lam: float, params: float) -> dict:
    return {"index": index, "round": 1, "lambda": lam, "costs": {"params": params}, "meets": {}, "meets_all": True}


def test_lambdas_are_log_uniform_and_reproducible():
    lambdas = draw_lambdas(1e-11, 1e-6, 200, seed=3, round_index=1)
    assert lambdas == draw_lambdas(1e-11, 1e-6, 200, seed=3, round_index=1)
    assert all(1e-11 <= lam <= 1e-6 for lam in lambdas)
    exponents = [math.log10(lam) for lam in lambdas]
    assert sum(e < -8.5 for e in exponents) == pytest.approx(100, abs=25)  # half below the log-midpoint


def test_refined_range_brackets_the_budget_crossing():
    rows = [_row(0, 1e-10, 3.0e6), _row(1, 1e-9, 2.5e6), _row(2, 1e-8, 2.0e6), _row(3, 1e-7, 1.5e6)]
    assert refined_range(rows, "params", 2.2e6) == (1e-9, 1e-8)
    noisy = rows + [_row(4, 3e-8, 2.4e6)]  # over budget above a lambda that is under: the overlap
    assert refined_range(noisy, "params", 2.2e6) == (1e-8, 3e-8)
    assert refined_range(rows, "params", 4e6) is None  # every search under budget: nothing to refine


def test_refine_round_samples_inside_the_crossing(tmp_path):
    plan = plan_sweep(_config(), "params", 1e-11, 1e-6, 4, {"params": "2.2M"}, refine_rounds=1, sampler_seed=5)
    sweep = Sweep(tmp_path, plan)
    for row in (_row(0, 1e-10, 3.0e6), _row(1, 1e-9, 2.5e6), _row(2, 1e-8, 2.0e6), _row(3, 1e-7, 1.5e6)):
        sweep.results.add(row)
    assert sweep._refine()
    assert plan["rounds"][1]["range"] == [1e-9, 1e-8]
    new = [s for s in plan["samples"] if s["round"] == 2]
    assert len(new) == 4 and all(1e-9 <= s["lambda"] <= 1e-8 for s in new)
    assert [s["seed"] for s in new] == [4, 5, 6, 7] and [s["run"] for s in new][0] == "runs/004"
    assert not sweep._refine()  # one refinement round was asked for
    assert json.loads((tmp_path / "sweep.json").read_text())["rounds"][1]["range"] == [1e-9, 1e-8]


@pytest.mark.slow
def test_sweep_cli_runs_searches_in_parallel_and_reports(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    args = ["sweep", "--cost", "params", "--lambda-range", "1e-12", "1e-3", "--samples", "3", "--budget",
            "params=1.5M", "--workers", "2", "--sweep-dir", str(sweep_dir), *SMALL]
    assert main(args) == 0
    out = capsys.readouterr().out
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    assert [s["seed"] for s in plan["samples"]] == [0, 1, 2]
    with open(sweep_dir / "results.csv") as file:
        rows = list(csv.DictReader(file))
    assert sorted(float(r["lambda"]) for r in rows) == sorted(s["lambda"] for s in plan["samples"])
    for row in rows:
        assert float(row["params"]) > 1.3e6 and float(row["flops"]) > 0
        assert row["meets_params"] == str(float(row["params"]) <= 1.5e6)
        assert (sweep_dir / row["run"] / "genotype.json").exists()
    assert "lambda" in out and "<= params budget" in out and f"Sweep directory: {sweep_dir}" in out
    assert (sweep_dir / "plots" / "cost_vs_lambda.png").stat().st_size > 0
    results = json.loads((sweep_dir / "results.json").read_text())["results"]
    assert all(r["genotype"]["normal"] and r["seed"] == r["index"] for r in results)


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_redoing_finished_searches(tmp_path, capsys):
    plan = plan_sweep(_config(), "params", 1e-9, 1e-6, 2, {"params": "2M"})
    sweep = Sweep(tmp_path, plan)
    sweep.save()
    first = tmp_path / "runs" / "000"
    run_sample(str(first), sample_config(plan, plan["samples"][0], 1))  # finished before the interruption

    class Killed(Exception):
        pass

    def kill(stage: int, epoch: int, step: int) -> None:
        if stage == 1:
            raise Killed

    second = tmp_path / "runs" / "001"
    config = sweep.config.updated(sample_config(plan, plan["samples"][1], 1))
    with pytest.raises(Killed):
        search(config, run_dir=second, show_progress=False, on_step=kill)  # interrupted mid-search
    finished = {p.name: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}
    assert main(["sweep", "--resume", str(tmp_path), "--workers", "1"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()} == finished  # not redone
    rows = json.loads((tmp_path / "results.json").read_text())["results"]
    assert {row["index"]: row["status"] for row in rows} == {0: "done before", 1: "resumed"}
    metrics = [json.loads(line) for line in (second / "metrics.jsonl").read_text().splitlines()]
    assert [(m["stage"], m["epoch"]) for m in metrics] == [(1, 1), (2, 1), (3, 1)]
    assert "Sweep directory" in capsys.readouterr().out


@pytest.mark.slow
def test_ray_backend_on_a_local_instance(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'rapdarts[ray]'")
    plan = plan_sweep(_config(), "params", 1e-9, 1e-6, 2, {"params": "2M"})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = start_sweep(plan, tmp_path / "sweep", options=SweepOptions(workers=2, backend="ray"))
    finally:
        ray.shutdown()
    assert sorted(results.rows) == [0, 1]
    for sample in plan["samples"]:
        assert (tmp_path / "sweep" / sample["run"] / "genotype.json").exists()
    assert load_sweep(tmp_path / "sweep").results.rows.keys() == {0, 1}
    assert os.getpid() not in {row["worker_pid"] for row in results.rows.values()}  # ran in Ray workers


@pytest.mark.parametrize("args, message", [
    (["--lambda-range", "1e-6", "1e-11"], "low is above high; give the smaller value first"),
    (["--lambda-range", "0", "1e-6"], "both ends must be positive finite numbers"),
    (["--lambda-range", "-1e-9", "1e-6"], "both ends must be positive finite numbers"),
    (["--budget", "flops=400M"], "this sweep varies the lambda of 'params' only"),
    (["--budget", "paramz=3M"], "unknown cost 'paramz'"),
    (["--budget", "params=1M"], "below the cheapest architecture this search space allows"),
    (["--refine"], "--refine narrows lambda around where the budget is crossed: add --budget params=VALUE"),
    (["--samples", "0"], "Invalid value for '--samples': 0 is not in the range x>=1"),
])
def test_bad_sweep_input_fails_before_any_search(args, message, tmp_path, capsys):
    argv = ["sweep", "--cost", "params", "--sweep-dir", str(tmp_path / "s"), *SMALL]
    if "--lambda-range" not in args:
        argv += ["--lambda-range", "1e-11", "1e-6"]
    status = main([*argv, *args])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--cost", "paramz", "--lambda-range", "1e-11", "1e-6"], "unknown cost 'paramz'"),
    (["sweep", "--cost", "params=1e-7", "--lambda-range", "1e-11", "1e-6"], "give only the cost name"),
    (["sweep", "--cost", "params"], "give the lambda range with --lambda-range LOW HIGH"),
    (["sweep", "--lambda-range", "1e-11", "1e-6"], "name the cost whose lambda is swept"),
])
def test_sweep_needs_a_cost_and_a_range(argv, message, capsys):
    assert main([*argv, "--profile", "tiny"]) == 2
    assert message in capsys.readouterr().err
