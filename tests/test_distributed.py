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

from rapdarts.runtime.distributed import CHECK_ENV, FAULT_ENV, Cluster
from rapdarts.storage.locking import is_locked

pytestmark = pytest.mark.slow  # every job here starts processes

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


def _wait_for(condition, seconds: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False): callers assert on the answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


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
        assert _wait_for(lambda: (run / "metrics.jsonl").exists()
                         and len((run / "metrics.jsonl").read_text().splitlines()) >= 3, 240), \
            "the search never wrote three epochs"
    finally:
        os.kill(process.pid, signal.SIGKILL)  # the launcher alone (torchrun gives each rank a session of its own)
        process.wait()
    assert _wait_for(lambda: not is_locked(run / ".lock"), 30), "ranks outlived their killed launcher"
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
    """A hang on a collective would run into the subprocess timeout and fail the test."""
    failed = _run(_torchrun(2, "search", *SMALL, "--run-dir", str(tmp_path / "run")), timeout=240,
                  **{FAULT_ENV: "1"})
    assert failed.returncode != 0
    assert "rapdarts (rank 1 of 2): error: injected fault on rank 1" in failed.stderr


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


COLLECTIVES = """
import json, sys
import torch
from rapdarts.budget.penalty import BudgetPenalty
from rapdarts.data import DataShape
from rapdarts.plugins.manager import discover_providers
from rapdarts.runtime import distributed
from rapdarts.search.config import profile_config
from rapdarts.space.supernet import SearchNetwork

job = distributed.cluster("cpu")
torch.manual_seed(0)
model = torch.nn.Linear(5, 3)          # the same weights on both ranks
data = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
target = torch.randn(8, 3, generator=torch.Generator().manual_seed(2))
part = job.shard(len(data))            # each rank its own slice: different inputs
loss = torch.nn.functional.mse_loss(model(data[part]), target[part])
loss.backward()
distributed.sum_gradients(list(model.parameters()), len(data[part]) / len(data))
summed = [p.grad.tolist() for p in model.parameters()]

config = profile_config("tiny").updated({"budgets": {"params": "1.5M"}})
penalty = BudgetPenalty(config, discover_providers())
penalty.prepare(DataShape(10, 1, (8, 8)))
candidates = tuple(tuple(config.primitives) for _ in range(14))
torch.manual_seed(0)
network = SearchNetwork(4, 10, 3, candidates, candidates, 1, (8, 8))
penalty.loss_terms(network, 0)
for step in range(3):                  # each rank its own cross-entropy, as its own data would give
    cost = {name: term.value(network).detach() for name, term in penalty.terms.items()}
    penalty.after_alpha_step(network, {"cross_entropy": torch.tensor(2.3 + job.rank + step), **cost})
gathered = [None] * job.world_size
torch.distributed.all_gather_object(gathered, {"gradients": summed, "multipliers": penalty.multipliers})
if job.main:
    json.dump(gathered, open(sys.argv[1], "w"))
torch.distributed.barrier()
torch.distributed.destroy_process_group()
"""


def test_two_ranks_sum_gradients_like_one_process_and_agree_on_multipliers(tmp_path):
    """Two processes, each with its own slice of the batch and its own cross-entropy: the summed gradient equals the
    gradient of the whole batch in one process, and the budget multipliers agree without any communication."""
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    out = tmp_path / "gathered.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
               str(out)]
    done = _run(command, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads(out.read_text())
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    data = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    target = torch.randn(8, 3, generator=torch.Generator().manual_seed(2))
    torch.nn.functional.mse_loss(model(data), target).backward()  # one process, the whole batch
    for rank in ranks:
        for got, expected in zip(rank["gradients"], model.parameters()):
            assert torch.allclose(torch.tensor(got), expected.grad, atol=1e-6)
    assert ranks[0]["multipliers"] == ranks[1]["multipliers"] and ranks[0]["multipliers"]["params"] > 0
