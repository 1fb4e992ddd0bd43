"""End-to-end tiny searches on the embedded dataset: learning, stage transitions, outputs, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rapdarts.api import resume, search
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import load_genotype

REPO = Path(__file__).resolve().parents[1]


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tiny_search_beats_chance_on_validation(tiny_search):
    best = max(row["valid_acc"] for row in tiny_search.metrics)
    assert best > 0.25, f"best validation accuracy {best:.3f} is not above chance (0.10)"


def test_stages_grow_the_network_and_drop_the_weakest_ops(tiny_search):
    stages = json.loads((tiny_search.run_dir / "stages.json").read_text())
    assert [s["cells"] for s in stages] == [3, 4, 5]
    assert [len(s["candidates"]["normal"][0]) for s in stages] == [8, 5, 3]
    for before, after in zip(stages, stages[1:]):
        for cell in ("normal", "reduce"):
            for edge, (names, probs) in enumerate(zip(before["candidates"][cell], before["probabilities"][cell])):
                kept = after["candidates"][cell][edge]
                dropped = before["dropped"][cell][edge]
                assert sorted(kept + dropped) == sorted(names)
                weakest_kept = min(p for n, p in zip(names, probs) if n in kept)
                assert all(p <= weakest_kept for n, p in zip(names, probs) if n in dropped)
    assert [row["cells"] for row in tiny_search.metrics] == [3] * 3 + [4] * 3 + [5] * 3


def test_run_directory_describes_the_run(tiny_search):
    run = tiny_search.run_dir
    for name in ("config.json", "environment.json", "metrics.jsonl", "alphas.jsonl", "stages.json",
                 "genotype.json", "checkpoint.pt"):
        assert (run / name).is_file(), name
    for plot in ("alphas_stage1.png", "alphas_stage2.png", "alphas_stage3.png", "alphas_over_time.png",
                 "metrics.png", "cells.png"):
        assert (run / "plots" / plot).stat().st_size > 1000, plot
    environment = json.loads((run / "environment.json").read_text())
    assert environment["seed"] == 0 and environment["packages"]["torch"]
    assert load_genotype(run) == tiny_search.genotype
    assert len(_read_jsonl(run / "alphas.jsonl")) == 9
    assert not list(run.glob("**/*.tmp"))


class Crash(Exception):
    pass


@pytest.mark.slow
def test_resume_after_a_crash_mid_stage_reaches_the_same_genotype(tiny_search, tiny_config, tmp_path):
    def crash(stage: int, epoch: int, step: int) -> None:
        if (stage, epoch, step) == (1, 1, 3):  # stage 2, second epoch, mid-epoch
            raise Crash

    with pytest.raises(Crash):
        search(tiny_config, run_dir=tmp_path, show_progress=False, on_step=crash)
    assert len(_read_jsonl(tmp_path / "metrics.jsonl")) == 4  # 3 epochs of stage 1, 1 of stage 2
    assert not (tmp_path / "genotype.json").exists()
    resumed = resume(tmp_path, show_progress=False)
    assert resumed.genotype == tiny_search.genotype
    expected = _read_jsonl(tiny_search.run_dir / "alphas.jsonl")
    assert _read_jsonl(tmp_path / "alphas.jsonl") == expected  # bit-identical alphas every epoch


@pytest.mark.slow
def test_resume_after_sigkill_of_the_cli(tiny_search, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "rapdarts", "search", "--profile", "tiny", "--device", "cpu", "--threads", "2",
               "--no-progress", "--run-dir", str(run)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            metrics = run / "metrics.jsonl"
            if metrics.exists() and len(metrics.read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert not (run / "genotype.json").exists(), "the search finished before it could be killed"
    finished = subprocess.run([sys.executable, "-m", "rapdarts", "search", "--resume", str(run), "--no-progress"],
                              env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert load_genotype(run) == tiny_search.genotype
    assert f"Run directory: {run}" in finished.stdout


def test_resume_of_a_directory_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(RapdartsError, match="has no checkpoint.pt"):
        resume(tmp_path)


@pytest.mark.slow
def test_a_memory_budget_changes_memory_not_decisions(tmp_path):
    from rapdarts.cli import main

    # one epoch per stage, every one with architecture steps: the alphas move in all three stages
    short = ["search", "--profile", "tiny", "--device", "cpu", "--no-progress", "--epochs", "1", "--warmup-epochs", "0"]
    plain, lean = tmp_path / "plain", tmp_path / "lean"
    assert main([*short, "--run-dir", str(plain)]) == 0
    assert main([*short, "--memory-budget", "1MB", "--run-dir", str(lean)]) == 0
    assert json.loads((lean / "config.json").read_text())["memory_budget"] == 0.001
    assert load_genotype(lean) == load_genotype(plain)  # every cell recomputed: same gradients, same search
    alphas = _read_jsonl(lean / "alphas.jsonl")
    assert len(alphas) == 3 and alphas == _read_jsonl(plain / "alphas.jsonl")
