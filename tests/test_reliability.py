"""Runs that stop at the worst moment: no stuck run directories, no second writer, no orphaned workers,
no leftovers, and messages that say how to continue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from rapdarts.api import resume, resume_training, search, train
from rapdarts.cli import main
from rapdarts.errors import RapdartsError
from rapdarts.latency.maker import WORK_PREFIX, _remove_stale_work
from rapdarts.space.genotype import preset
from rapdarts.storage.locking import exclusive, is_locked
from rapdarts.storage.rundir import LOCK, RunDirectory
from rapdarts.train.config import train_profile_config

REPO = Path(__file__).resolve().parents[1]


class Stop(Exception):
    """Stands for a kill in the first epoch, before any checkpoint exists."""


def _stop_at_first_step(*position: int) -> None:
    raise Stop


@pytest.mark.slow
def test_a_search_stopped_before_its_first_checkpoint_resumes_from_the_start(tiny_search, tiny_config, tmp_path,
                                                                             capsys):
    with pytest.raises(Stop):
        search(tiny_config, run_dir=tmp_path, show_progress=False, on_step=_stop_at_first_step)
    assert (tmp_path / "config.json").exists() and not (tmp_path / "checkpoint.pt").exists()
    # A rerun into the directory points at --resume, and --resume now works (the two no longer point at each other).
    assert main(["search", "--profile", "tiny", "--run-dir", str(tmp_path), "--no-progress"]) == 2
    assert f"--resume {tmp_path}" in capsys.readouterr().err
    assert main(["search", "--resume", str(tmp_path), "--no-progress"]) == 0
    assert "stopped before its first checkpoint, so it starts again from the beginning" in capsys.readouterr().err
    assert json.loads((tmp_path / "genotype.json").read_text()) == tiny_search.genotype.to_dict()
    assert "before its first checkpoint" in (tmp_path / "search.log").read_text()


@pytest.mark.slow
def test_resuming_a_finished_search_says_it_is_finished(tiny_search, tmp_path, caplog):
    with caplog.at_level("INFO", logger="rapdarts"):
        again = resume(tiny_search.run_dir, show_progress=False)
    assert "is finished" in caplog.text and "resuming" not in caplog.text
    assert again.genotype == tiny_search.genotype


@pytest.mark.slow
def test_a_training_stopped_before_its_first_checkpoint_resumes_from_the_start(tmp_path):
    config = train_profile_config("tiny").updated({"device": "cpu", "epochs": 1, "report_costs": ("params",),
                                                   "onnx_latency": False})
    genotype = preset("PDARTS")
    finished = train(config, genotype, run_dir=tmp_path / "whole", show_progress=False)
    with pytest.raises(Stop):
        train(config, genotype, run_dir=tmp_path / "stopped", show_progress=False,
              on_step=lambda stage, epoch, step: _stop_at_first_step())
    assert not (tmp_path / "stopped" / "checkpoint.pt").exists()
    resumed = resume_training(tmp_path / "stopped", show_progress=False)
    timeless = [{k: v for k, v in row.items() if "seconds" not in k} for row in finished.metrics]
    assert [{k: v for k, v in row.items() if "seconds" not in k} for row in resumed.metrics] == timeless


def test_a_run_directory_in_use_is_refused(tiny_config, tmp_path, capsys):
    with pytest.raises(Stop):
        search(tiny_config, run_dir=tmp_path, show_progress=False, on_step=_stop_at_first_step)
    assert not is_locked(tmp_path / LOCK)  # released however the run ended
    with exclusive(tmp_path / LOCK, "a test"):  # another process (flock is per open file) is running it
        assert main(["search", "--resume", str(tmp_path), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"run directory {tmp_path} is in use by another rapdarts process (pid {os.getpid()})" in err
        with pytest.raises(RapdartsError, match="in use by another rapdarts process"):
            resume(tmp_path, show_progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()  # nothing was written by the refused runs


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    script = (f"from rapdarts.storage.locking import exclusive\nimport os\n"
              f"with exclusive({str(tmp_path / LOCK)!r}, 'x'):\n    os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (tmp_path / LOCK).exists() and not is_locked(tmp_path / LOCK)
    with exclusive(tmp_path / LOCK, "x"):
        assert is_locked(tmp_path / LOCK)


def test_a_latency_table_being_profiled_is_locked(tmp_path, capsys):
    table = tmp_path / "t.json"
    with exclusive(tmp_path / ".t.json.lock", "a test"):
        status = main(["profile", "--out", str(table), "--init-channels", "4", "--cells", "3", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and f"latency table {table} is in use" in err, err
    assert not table.exists()


def test_leftovers_of_a_killed_run_are_removed_on_resume(tiny_config, tmp_path):
    with pytest.raises(Stop):
        search(tiny_config, run_dir=tmp_path, show_progress=False, on_step=_stop_at_first_step)
    (tmp_path / "plots").mkdir(exist_ok=True)
    leftovers = [tmp_path / ".checkpoint.pt.k2j3.tmp", tmp_path / "plots" / ".alphas.png.x8y.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    with pytest.raises(Stop):
        resume(tmp_path, show_progress=False, on_step=_stop_at_first_step)
    assert not any(leftover.exists() for leftover in leftovers)


def test_working_directories_of_killed_profiles_are_removed(tmp_path):
    stale = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
    (stale / ".lock").write_text("12345")
    (stale / "op.onnx").write_bytes(b"x")
    alive = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
    try:
        with exclusive(alive / ".lock", "a profile still running"):
            _remove_stale_work()
            assert not stale.exists() and alive.exists()
    finally:
        for directory in (stale, alive):
            if directory.exists():
                for file in directory.iterdir():
                    file.unlink()
                directory.rmdir()


def test_ctrl_c_names_the_run_directory_and_the_resume_command(tmp_path, capsys, monkeypatch):
    from rapdarts.search.progressive import ProgressiveSearch

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ProgressiveSearch, "_run_epoch", interrupted)
    run = tmp_path / "run"
    status = main(["search", "--profile", "tiny", "--device", "cpu", "--run-dir", str(run), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 130
    assert err.splitlines()[-1] == f"rapdarts: interrupted; continue with: rapdarts search --resume {run}"


def test_threads_actually_used_are_recorded(tiny_search):
    config = json.loads((tiny_search.run_dir / "config.json").read_text())
    assert config["threads"] == 2  # the tests' thread count, although the config asked for torch's choice


WORKER_PARENT = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from rapdarts.sweep.backends import _init_worker

    if __name__ == "__main__":
        context = multiprocessing.get_context("spawn")
        devices = context.Queue()
        devices.put(None)
        pool = ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker, initargs=(devices,))
        print(pool.submit(os.getpid).result(), flush=True)
        pool.submit(time.sleep, 600)
        time.sleep(0.5)
        os.kill(os.getpid(), 9)  # the sweep's main process dies without any cleanup
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sweep_workers_exit_when_the_main_process_dies(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(WORKER_PARENT)
    parent = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert parent.returncode == -signal.SIGKILL
    worker = int(parent.stdout.split()[0])
    deadline = time.time() + 15
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived the sweep's main process"


def test_a_sweep_directory_in_use_is_refused_and_ctrl_c_names_it(tmp_path, capsys, monkeypatch):
    from rapdarts.sweep.runner import Sweep

    sweep = tmp_path / "sweep"
    with monkeypatch.context() as patch:
        patch.setattr(Sweep, "_run", lambda self, options: (_ for _ in ()).throw(KeyboardInterrupt))
        status = main(["sweep", "--profile", "tiny", "--cost", "params", "--lambda-range", "1e-9", "1e-8",
                       "--samples", "1", "--sweep-dir", str(sweep)])
    err = capsys.readouterr().err.strip()
    assert status == 130 and f"continue with: rapdarts sweep --resume {sweep}" in err, err
    with exclusive(sweep / LOCK, "a test"):
        status = main(["sweep", "--resume", str(sweep)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and f"sweep directory {sweep} is in use by another rapdarts process" in err, err
    assert not any(path.is_dir() for path in sweep.iterdir())  # no search was started


def test_run_directory_claim_is_exclusive_within_one_process_too(tmp_path):
    directory = RunDirectory(tmp_path / "run")
    with directory.claimed():
        with pytest.raises(RapdartsError, match="in use"):
            with RunDirectory(tmp_path / "run").claimed():
                pass
    assert not (tmp_path / "run" / LOCK).exists()
