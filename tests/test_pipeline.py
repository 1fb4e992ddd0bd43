"""From a sweep to trained models: selection under budgets, dedup, ranking, resumable trainings, seeds, TensorBoard."""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
from pathlib import Path

import pytest

import rapdarts.api as api
from rapdarts.cli import main
from rapdarts.errors import RapdartsError
from rapdarts.runtime import tracking
from rapdarts.search.config import profile_config
from rapdarts.space.genotype import Genotype, random_genotype
from rapdarts.sweep.plan import plan_sweep
from rapdarts.sweep.results import genotype_summary
from rapdarts.sweep.runner import Sweep
from rapdarts.sweep.seed_summary import SeedSummary, spread
from rapdarts.sweep.selection import distinct_candidates, rank, select_genotypes

SMALL_SEARCH = ["--profile", "tiny", "--device", "cpu", "--threads", "1", "--epochs", "1", "--warmup-epochs", "0",
                "--train-subset", "256", "--cells", "1,1,1", "--target-channels", "6", "--target-cells", "5",
                "--block-plugin", "latency"]
"""Searches of a few seconds whose costs are priced on a C=6, 5-cell network: small enough to train in a test (no
latency cost: without a table it would time every op of every result on demand)."""
TINY_TRAIN = ["--profile", "tiny", "--device", "cpu", "--threads", "1", "--report-costs", "params",
              "--train-subset", "128", "--test-subset", "60", "--epochs", "2"]


def _genotype(seed: int) -> Genotype:
    return random_genotype(random.Random(seed))


def _row(index: int, genotype: Genotype, params: float, acc: float) -> dict:
    return {"index": index, "round": 1, "lambda": 10.0 ** -(9 - index / 10), "seed": index, "run": f"runs/{index:03d}",
            "costs": {"params": params, "flops": 10 * params}, "meets": {"params": True}, "meets_all": True,
            "valid_acc": acc, "genotype": genotype.to_dict(), "summary": genotype_summary(genotype), "status": "ran",
            "worker_pid": 1}


def _swapped(genotype: Genotype) -> Genotype:
    """The same network with the two edges of the first normal node written the other way round."""
    edges = list(genotype.normal)
    edges[0], edges[1] = edges[1], edges[0]
    return Genotype(edges, genotype.normal_concat, genotype.reduce, genotype.reduce_concat)


def test_canonical_key_ignores_the_order_of_a_nodes_edges():
    genotype = _genotype(1)
    assert _swapped(genotype) != genotype and _swapped(genotype).canonical_key() == genotype.canonical_key()
    assert _genotype(2).canonical_key() != genotype.canonical_key()


def test_selection_keeps_distinct_genotypes_under_budget_largest_first():
    a, b, c, d = (_genotype(seed) for seed in range(4))
    rows = [_row(0, a, 1.5e6, 0.80), _row(1, b, 2.9e6, 0.70), _row(2, c, 3.2e6, 0.90), _row(3, d, 2.5e6, 0.85),
            _row(4, _swapped(b), 2.9e6, 0.75)]  # search 4 found search 1's cell again
    budgets = {"params": {"text": "3M", "value": 3e6, "unit": "parameters"}}
    chosen, counts = select_genotypes(rows, budgets, top=2, by=["params"])
    assert [c.searches for c in chosen] == [(1, 4), (3,)]  # c is over budget; b beats d on size
    assert chosen[0].valid_acc == 0.75  # the better of the two searches that found it
    assert counts == {"searches": 5, "distinct": 4, "meeting_budgets": 3, "selected": 2}
    everything, _ = select_genotypes(rows, budgets, top=16, by=["params"])
    assert [c.searches[0] for c in everything] == [1, 3, 0]


def test_ranking_by_accuracy_and_by_both_adds_ranks():
    a, b, c = (_genotype(seed) for seed in range(3))
    candidates = distinct_candidates([_row(0, a, 2.0e6, 0.90), _row(1, b, 2.8e6, 0.70), _row(2, c, 2.5e6, 0.80)])
    assert [x.searches[0] for x in rank(candidates, ["accuracy"])] == [0, 2, 1]
    # params ranks a=2, b=0, c=1; accuracy ranks a=0, b=2, c=1: sums 2, 2, 2, so ties go to the larger params.
    assert [x.searches[0] for x in rank(candidates, ["params", "accuracy"])] == [1, 2, 0]


def test_seed_spread_is_the_sample_standard_deviation():
    stats = spread([0.10, 0.20, 0.30])
    assert stats["mean"] == pytest.approx(0.2) and stats["std"] == pytest.approx(0.1)  # sqrt(((.1)^2*2)/(3-1))
    assert spread([0.5])["std"] is None
    summary = SeedSummary(Path("/nonexistent"), {"kind": "train", "seeds": []})
    for seed, error in enumerate([0.10, 0.20, 0.30]):
        summary.add({"seed": seed, "run": f"runs/seed-{seed}", "test_error": error, "parameters": 1000,
                     "onnx_latency_ms": None})
    assert "test error 20.00 ± 10.00% (n=3, 10.00-30.00)" in summary.headline()


@pytest.fixture
def fake_sweep(tmp_path: Path) -> Path:
    """A sweep directory whose results are written by hand (no search runs): for input errors."""
    config = profile_config("tiny").updated({"device": "cpu", "threads": 1, "cells": (1, 1, 1)})
    plan = plan_sweep(config, "params", 1e-9, 1e-6, 3, {"params": "2M"})
    sweep = Sweep(tmp_path / "sweep", plan)
    sweep.directory.create()
    sweep.save()
    for index in range(3):
        sweep.results.add(_row(index, _genotype(index), 1.5e6 + 1e5 * index, 0.5))
    sweep.results.write()
    return sweep.directory.path


@pytest.mark.parametrize("args, message", [
    (["--budget", "latency=4ms"], "budget 'latency': the sweep has no latency figure"),
    (["--budget", "params=3 ms"], "params is measured in parameters, not 'ms'"),
    (["--top", "0"], "--top 0: select at least one genotype to train"),
    (["--by", "size"], "--by size: rank by a cost of the sweep (params, flops) or by accuracy"),
    (["--budget", "params=1k"], "no genotype of the sweep's 3 searches meets params <= 1k"),
    (["--dataset", "imagefolder", "--data-dir", "/nonexistent/images"], "does not exist"),
])
def test_bad_selection_input_is_one_line_and_writes_nothing(fake_sweep, args, message, capsys):
    status = main(["select", str(fake_sweep), "--profile", "tiny", *args])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (fake_sweep / "selection").exists()


def test_selecting_from_what_is_no_sweep_names_it(tmp_path, capsys):
    assert main(["select", str(tmp_path / "nowhere")]) == 2
    assert "is not a sweep directory (it has no sweep.json)" in capsys.readouterr().err
    assert main(["train", "PDARTS", "--seeds", "1"]) == 2
    assert "1 is not in the range x>=2" in capsys.readouterr().err


class FakeWriter:
    """Stands in for ``torch.utils.tensorboard.SummaryWriter``: records what would be written."""

    made: list[FakeWriter] = []

    def __init__(self, log_dir: str, flush_secs: int = 120):
        self.log_dir, self.scalars, self.histograms, self.closed = log_dir, {}, {}, False
        FakeWriter.made.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, []).append((step, value))

    def add_histogram(self, tag, values, step):
        self.histograms.setdefault(tag, []).append(step)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_writer(monkeypatch):
    FakeWriter.made = []
    monkeypatch.setattr(tracking, "summary_writer_class", lambda: FakeWriter)
    return FakeWriter


def test_metrics_rows_become_tags(fake_writer, tmp_path):
    tracker = tracking.tracker_for(True, tmp_path)
    tracker.row({"train_loss": 1.5, "budgets": {"params": {"lambda": 2e-7, "multiplier": 0.4, "meets": True,
                                                           "steps": [1, 2]}}, "genotype": {"normal": []}}, 3, "s/")
    assert fake_writer.made[0].scalars == {
        "s/train_loss": [(3, 1.5)], "s/budgets/params/lambda": [(3, 2e-7)], "s/budgets/params/multiplier": [(3, 0.4)],
        "s/budgets/params/meets": [(3, 1)]}
    tracker.close()
    assert fake_writer.made[0].closed and fake_writer.made[0].log_dir == str(tmp_path / "tensorboard")
    silent = tracking.tracker_for(False, tmp_path)
    silent.row({"x": 1.0}, 1)
    assert len(fake_writer.made) == 1  # off by default: nothing opened


def test_tensorboard_event_files_are_written(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard is an optional extra: pip install 'rapdarts[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracker = tracking.tracker_for(True, tmp_path)
    tracker.row({"loss": 0.5}, 1, "train/")
    tracker.histogram("alphas/normal", __import__("torch").randn(14, 8), 1)
    tracker.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert events.Tags()["scalars"] == ["train/loss"] and events.Tags()["histograms"] == ["alphas/normal"]


def test_missing_tensorboard_is_one_line_before_anything_is_written(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as when it is not installed
    run = tmp_path / "run"
    assert main(["search", *SMALL_SEARCH, "--tensorboard", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--tensorboard needs TensorBoard" in err and "pip install 'rapdarts[tensorboard]'" in err
    assert len(err.splitlines()) == 1 and not run.exists()


@pytest.mark.slow
def test_search_training_and_sweep_write_tensorboard_curves(fake_writer, tmp_path):
    assert main(["search", *SMALL_SEARCH, "--budget", "params=20k", "--tensorboard", "--no-progress",
                 "--run-dir", str(tmp_path / "search")]) == 0
    search = fake_writer.made[-1]
    for tag in ("search/train_loss", "search/valid_acc", "search/train_acc", "search/expected_cost/params",
                "search/genotype_cost/params", "search/budgets/params/lambda", "search/budgets/params/multiplier"):
        assert [step for step, _ in search.scalars[tag]] == [1, 2, 3], tag  # one per epoch, three stages
    assert search.histograms["alphas/normal"] == [1, 2, 3] and search.closed
    assert main(["train", str(tmp_path / "search"), *TINY_TRAIN, "--no-onnx-latency", "--tensorboard",
                 "--no-progress", "--run-dir", str(tmp_path / "train")]) == 0
    assert {"train/train_loss", "train/test_acc", "train/lr"} <= set(fake_writer.made[-1].scalars)
    assert main(["sweep", "--cost", "params", "--lambda-range", "1e-9", "1e-8", "--samples", "1", "--workers", "1",
                 "--tensorboard", "--sweep-dir", str(tmp_path / "sweep"), *SMALL_SEARCH]) == 0
    sweep = next(w for w in fake_writer.made if w.log_dir == str(tmp_path / "sweep" / "tensorboard"))
    assert {"sweep/log10_lambda", "sweep/costs/params", "sweep/valid_acc"} <= set(sweep.scalars)


# ----------------------------------------------------------------- end to end: sweep -> select -> train -> seeds
@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    """A sweep of 4 tiny searches, two at a time, priced on a C=6, 5-cell network."""
    sweep = tmp_path_factory.mktemp("pipeline") / "sweep"
    assert main(["sweep", "--cost", "params", "--lambda-range", "1e-9", "1e-5", "--samples", "4", "--workers", "2",
                 "--sweep-dir", str(sweep), *SMALL_SEARCH]) == 0
    return sweep


def _files(run: Path) -> dict[str, int]:
    return {p.relative_to(run).as_posix(): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_select_trains_the_top_two_once_each_resumably(tiny_sweep, monkeypatch, capsys):
    results = json.loads((tiny_sweep / "results.json").read_text())
    rows = results["results"]
    distinct = {}
    for row in rows:
        distinct.setdefault(Genotype.from_dict(row["genotype"]).canonical_key(), row)
    sizes = sorted({row["costs"]["params"] for row in distinct.values()})
    assert len(sizes) >= 3, "the tiny searches should find at least three distinct genotypes"
    budget = sizes[-2]  # the largest is over budget
    expected = sorted((r for r in distinct.values() if r["costs"]["params"] <= budget),
                      key=lambda r: -r["costs"]["params"])[:2]
    # The sweep found its second-best cell once more (as sweeps do); it must be trained only once.
    twin = dict(expected[1], index=len(rows), run=f"runs/{len(rows):03d}")
    twin["genotype"] = _swapped(Genotype.from_dict(twin["genotype"])).to_dict()
    results["results"].append(twin)
    (tiny_sweep / "results.json").write_text(json.dumps(results))

    real_train, started = api.train, []

    def killed_in_the_second_training(*args, **kwargs):
        started.append(kwargs["run_dir"])
        if len(started) == 2:
            def stop(stage, epoch, step):
                if epoch == 1:
                    raise KeyboardInterrupt  # Ctrl-C during epoch 2 of the second training
            kwargs["on_step"] = stop
        return real_train(*args, **kwargs)

    monkeypatch.setattr(api, "train", killed_in_the_second_training)
    select = ["select", str(tiny_sweep), "--budget", f"params={budget:.0f}", "--top", "2", "--by", "params",
              *TINY_TRAIN]
    assert main(select) == 130
    assert "rapdarts select --resume" in capsys.readouterr().err
    monkeypatch.undo()
    selection = tiny_sweep / "selection"
    first, second = selection / "runs" / "01", selection / "runs" / "02"
    assert (first / "report.json").exists() and not (second / "report.json").exists()
    before = _files(first)
    assert main(["select", "--resume", str(tiny_sweep), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert _files(first) == before  # finished: not redone
    assert "resuming" in (second / "train.log").read_text()  # interrupted: continued from its checkpoint
    assert len((second / "metrics.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in (selection / "runs").iterdir()) == ["01", "02"]  # the twin is not trained again

    with open(selection / "selection.csv") as file:
        table = list(csv.DictReader(file))
    assert [int(r["rank"]) for r in table] == [1, 2]
    assert [float(r["predicted_params"]) for r in table] == [r["costs"]["params"] for r in expected]
    assert table[1]["searches"] == f"{expected[1]['index']} {twin['index']}"
    for row, run in zip(table, (first, second)):
        report = json.loads((run / "report.json").read_text())
        assert int(row["parameters"]) == report["parameters"]["without_auxiliary"] == float(row["predicted_params"])
        assert float(row["test_error"]) == report["test"]["error"] and float(row["onnx_latency_ms"]) > 0
        assert json.loads((run / "config.json").read_text())["init_channels"] == 6  # the sweep's priced network
    summary = json.loads((selection / "selection.json").read_text())
    errors = {r["rank"]: r["test_error"] for r in summary["rows"]}
    assert summary["best"] == min(errors, key=lambda k: (errors[k], k))
    assert (selection / "plots" / "error_vs_cost.png").stat().st_size > 0
    assert "Best (*): rank" in out and "trained params" in out


@pytest.mark.slow
def test_seeds_report_mean_and_std_of_distinct_runs(tiny_sweep, tmp_path, capsys):
    study = tmp_path / "seeds"
    genotype = tiny_sweep / "runs" / "000" / "genotype.json"
    assert main(["train", str(genotype), *TINY_TRAIN, "--train-subset", "256", "--no-onnx-latency", "--seeds", "3",
                 "--seed", "5", "--workers", "2", "--run-dir", str(study)]) == 0
    out = capsys.readouterr().out
    runs = sorted((study / "runs").iterdir())
    assert [run.name for run in runs] == ["seed-5", "seed-6", "seed-7"]
    errors, losses = [], set()
    for run in runs:
        assert json.loads((run / "config.json").read_text())["seed"] == int(run.name.split("-")[1])
        errors.append(json.loads((run / "report.json").read_text())["test"]["error"])
        losses.add(json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["train_loss"])
    assert len(losses) == 3  # three distinct runs, not one run counted thrice
    aggregate = json.loads((study / "summary.json").read_text())["aggregate"]["test_error"]
    assert aggregate["n"] == 3 and aggregate["mean"] == pytest.approx(statistics.fmean(errors))
    assert aggregate["std"] == pytest.approx(statistics.stdev(errors))
    assert f"{100 * statistics.fmean(errors):.2f} ± {100 * statistics.stdev(errors):.2f}%" in out
    assert main(["train", "--resume", str(study)]) == 0  # a finished study only reports again
    assert sorted((study / "runs").iterdir()) == runs


@pytest.mark.slow
def test_search_seeds_report_recurrence_and_spread(tmp_path, capsys):
    study = tmp_path / "search-seeds"
    assert main(["search", *SMALL_SEARCH, "--seeds", "2", "--run-dir", str(study)]) == 0
    summary = json.loads((study / "summary.json").read_text())
    seeds = [json.loads((study / r["run"] / "config.json").read_text())["seed"] for r in summary["rows"]]
    assert seeds == [0, 1]
    keys = {r["key"] for r in summary["rows"]}
    assert summary["aggregate"]["distinct_genotypes"] == len(keys)
    assert sum(g["count"] for g in summary["aggregate"]["genotype_counts"]) == 2
    params = [r["costs"]["params"] for r in summary["rows"]]
    assert summary["aggregate"]["costs"]["params"]["mean"] == pytest.approx(statistics.fmean(params))
    assert "distinct genotypes from 2 seeds" in capsys.readouterr().out


def test_a_seed_study_needs_two_seeds():
    from rapdarts.sweep.seeds import check_seeds

    with pytest.raises(RapdartsError, match="needs at least 2 seeds"):
        check_seeds(1)
