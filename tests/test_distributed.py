"""Data-parallel search and training under torchrun (gloo on the CPU, two processes).

Every job here is started the way a user starts one, ``python -m torch.distributed.run
--nproc-per-node N -m rapdarts ...``, with ``RAPDARTS_CHECK_SYNC=1``: each step then asserts that
all ranks hold bit-identical alphas and weights, and a rank other than 0 that tried to write into
the run directory would fail (its view of the directory is read-only).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rapdarts.budget.penalty import BudgetPenalty
from rapdarts.costs.plugins import discover_providers
from rapdarts.data import DataShape
from rapdarts.distributed import CHECK_ENV, FAULT_ENV, Cluster
from rapdarts.locking import is_locked
from rapdarts.search.config import profile_config
from rapdarts.space.supernet import SearchNetwork

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--profile", "tiny", "--device", "cpu", "--threads", "1", "--no-progress", "--train-subset", "256",
         "--epochs", "2", "--cells", "2,3,3", "--budget", "params=1.9M"]
"""A search of a few seconds that still runs all three stages, alpha steps and a budget's dual ascent."""
TRAIN = ["--profile", "tiny", "--device", "cpu", "--threads", "1", "--no-progress", "--epochs", "2",
         "--train-subset", "256", "--test-subset", "128", "--report-costs", "params", "--no-onnx-latency"]


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), CHECK_ENV: "1", "OMP_NUM_THREADS": "1", **extra}


def _torchrun(processes: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", "rapdarts", *args]


def _run(command: list[str], timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_environment(**extra))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def two_rank_search(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ddp") / "search"
    done = _run(_torchrun(2, "search", *SMALL, "--run-dir", str(run)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Discovered genotype") == 1  # rank 1 stays silent
    return run


def test_two_ranks_search_in_step_and_only_rank_0_writes(two_rank_search):
    environment = json.loads((two_rank_search / "environment.json").read_text())
    assert environment["distributed"] == {"world_size": 2, "backend": "gloo", "global_batch": 32,
                                          "per_rank_batch": [16, 16]}
    assert (two_rank_search / "genotype.json").exists() and (two_rank_search / "budgets.json").exists()
    assert len(_lines(two_rank_search / "metrics.jsonl")) == 6  # 3 stages x 2 epochs, written once


def test_a_two_rank_search_resumed_under_two_ranks_is_the_same(two_rank_search, tmp_path):
    run = tmp_path / "search"
    process = subprocess.Popen(_torchrun(2, "search", *SMALL, "--run-dir", str(run)), env=_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (run / "metrics.jsonl").exists():
            time.sleep(0.05)
        while time.time() < deadline and len((run / "metrics.jsonl").read_text().splitlines()) < 3:
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)  # the launcher alone (torchrun gives each rank a session of its own)
        process.wait()
    deadline = time.time() + 30
    while time.time() < deadline and is_locked(run / ".lock"):
        time.sleep(0.1)
    assert not is_locked(run / ".lock"), "ranks outlived their killed launcher"
    assert not (run / "genotype.json").exists()
    other = _run([sys.executable, "-m", "rapdarts", "search", "--resume", str(run), "--no-progress"])
    assert other.returncode == 2 and "was made with 2 process(es) and is resumed with 1" in other.stderr
    resumed = _run(_torchrun(2, "search", "--resume", str(run), "--no-progress"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _lines(run / "alphas.jsonl") == _lines(two_rank_search / "alphas.jsonl")  # bit-identical, every epoch
    genotype = json.loads((run / "genotype.json").read_text())
    assert genotype == json.loads((two_rank_search / "genotype.json").read_text())


def test_one_process_under_torchrun_is_the_plain_run(tmp_path):
    plain = _run([sys.executable, "-m", "rapdarts", "search", *SMALL, "--run-dir", str(tmp_path / "plain")])
    alone = _run(_torchrun(1, "search", *SMALL, "--run-dir", str(tmp_path / "torchrun")))
    assert plain.returncode == 0 and alone.returncode == 0, alone.stderr[-3000:]
    assert _lines(tmp_path / "plain" / "alphas.jsonl") == _lines(tmp_path / "torchrun" / "alphas.jsonl")
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in _lines(tmp_path / "plain" / "metrics.jsonl")]
    assert [{k: v for k, v in row.items() if k != "seconds"}
            for row in _lines(tmp_path / "torchrun" / "metrics.jsonl")] == strip


def test_a_failing_rank_ends_the_job_with_a_clear_error(tmp_path):
    started = time.time()
    failed = _run(_torchrun(2, "search", *SMALL, "--run-dir", str(tmp_path / "run")), timeout=240,
                  **{FAULT_ENV: "1"})
    assert failed.returncode != 0
    assert "rapdarts (rank 1 of 2): error: injected fault on rank 1" in failed.stderr
    assert time.time() - started < 200  # ended, not hung on a collective


def test_two_ranks_train_and_only_rank_0_writes(tmp_path):
    run = tmp_path / "train"
    done = _run(_torchrun(2, "train", "PDARTS", *TRAIN, "--run-dir", str(run)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Run directory:") == 1
    report = json.loads((run / "report.json").read_text())
    assert report["parameters"]["without_auxiliary"] > 0
    environment = json.loads((run / "environment.json").read_text())
    assert environment["distributed"]["world_size"] == 2 and environment["distributed"]["per_rank_batch"] == [16, 16]
    assert len(_lines(run / "metrics.jsonl")) == 2


def test_sync_bn_on_the_cpu_is_a_clear_error(tmp_path):
    failed = _run(_torchrun(2, "train", "PDARTS", *TRAIN, "--sync-bn", "--run-dir", str(tmp_path / "run")))
    assert failed.returncode != 0 and "--sync-bn needs CUDA devices" in failed.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("size, world", [(32, 2), (33, 2), (7, 3), (64, 4), (5, 5)])
def test_shards_partition_every_batch(size, world):
    slices = [Cluster(rank, world).shard(size) for rank in range(world)]
    covered = [i for part in slices for i in range(size)[part]]
    assert covered == list(range(size))
    assert max(map(len, (range(size)[p] for p in slices))) - min(map(len, (range(size)[p] for p in slices))) <= 1


def test_budget_multipliers_need_no_communication():
    """Dual ascent reads only the cost terms of the alpha step (functions of the alphas), never the rank's own
    cross-entropy, so ranks holding the same alphas take the same multiplier step whatever their data."""
    config = profile_config("tiny").updated({"budgets": {"params": "1.5M"}})
    shape = DataShape(10, 1, (8, 8))
    penalties = [BudgetPenalty(config, discover_providers()) for _ in range(2)]
    torch.manual_seed(0)
    candidates = tuple(tuple(config.primitives) for _ in range(14))
    model = SearchNetwork(4, 10, 3, candidates, candidates, 1, (8, 8))
    for penalty in penalties:
        penalty.prepare(shape)
        penalty.loss_terms(model, 0)
    cost = {name: term.value(model).detach() for name, term in penalties[0].terms.items()}
    penalties[0].after_alpha_step(model, {"cross_entropy": torch.tensor(2.3), **cost})
    penalties[1].after_alpha_step(model, {"cross_entropy": torch.tensor(0.4), **cost})
    assert penalties[0].multipliers == penalties[1].multipliers and penalties[0].multipliers["params"] > 0
