"""Running a sweep's searches: one function per sample, and backends that run many at once.

:func:`run_sample` is the unit of work: it runs (or resumes, or skips when finished) one search
in its own run directory and returns a small picklable summary. Backends call it in this process
(one worker), in local worker processes (one per GPU when there are GPUs, ``CUDA_VISIBLE_DEVICES``
set per process), or as Ray tasks on a local instance or a cluster (``pip install 'rapdarts[ray]'``).
With Ray on several machines the sweep directory must be on a filesystem every node sees for
``--resume`` to skip finished searches on the nodes; the returned summary alone is enough to
build the results table.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from rapdarts.errors import RapdartsError
from rapdarts.runtime.lifetime import exit_with_parent

log = logging.getLogger("rapdarts")

Done = Callable[[dict[str, Any]], None]


def run_sample(run_dir: str, config: dict[str, Any], processes: int = 1) -> dict[str, Any]:
    """Run, resume or skip the search of one sample; returns its genotype and final accuracy.

    A run with ``genotype.json`` is finished and not run again; one with a checkpoint resumes.
    With ``processes > 1`` the search is a data-parallel job of that many processes, started with
    torchrun on the devices this worker was given (``CUDA_VISIBLE_DEVICES``).
    """
    if processes > 1:
        return _run_sample_with_torchrun(run_dir, config, processes)
    from rapdarts.api import resume, search
    from rapdarts.search.config import SearchConfig
    from rapdarts.storage.rundir import RunDirectory

    path = Path(run_dir)
    directory = RunDirectory(path)
    if (path / "genotype.json").exists():
        status = "done before"
    else:
        logger = logging.getLogger("rapdarts")
        if logger.level == logging.NOTSET:  # a worker process: the search's log goes to its search.log
            logger.setLevel(logging.INFO)
        if (path / RunDirectory.CHECKPOINT).exists() or (path / "config.json").exists():
            resume(path, show_progress=False)  # a run stopped before its first checkpoint starts again
            status = "resumed"
        else:
            search(SearchConfig.from_dict(config, f"sweep sample {path.name}"), run_dir=path, show_progress=False)
            status = "ran"
    metrics = directory.read_jsonl("metrics.jsonl")
    return {"run_dir": str(path), "status": status, "genotype": directory.read_json("genotype.json"),
            "valid_acc": metrics[-1]["valid_acc"] if metrics else None, "pid": os.getpid()}


def _run_sample_with_torchrun(run_dir: str, config: dict[str, Any], processes: int) -> dict[str, Any]:
    """One sample as ``torchrun --standalone --nproc-per-node N -m rapdarts search``: the launcher is torchrun,
    not rapdarts; the summary is read from the run directory afterwards, like a single-process run's."""
    import json
    import subprocess
    import sys
    import tempfile

    from rapdarts.storage.rundir import RunDirectory

    path = Path(run_dir)
    if (path / "genotype.json").exists():
        status, command = "done before", None
    elif (path / RunDirectory.CHECKPOINT).exists() or (path / "config.json").exists():
        status, command = "resumed", ["search", "--resume", str(path)]
    else:
        status, command = "ran", ["search", "--run-dir", str(path)]
    if command is not None:
        with tempfile.TemporaryDirectory(prefix="rapdarts-sample-") as work:
            if status == "ran":
                settings = Path(work) / "config.json"
                settings.write_text(json.dumps(config))
                command += ["--config", str(settings)]
            launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                      "-m", "rapdarts", *command, "--no-progress"]
            finished = subprocess.run(launch, capture_output=True, text=True)
        if finished.returncode != 0:
            lines = [line for line in finished.stderr.splitlines() if "rapdarts" in line and "error" in line]
            reason = lines[-1] if lines else (finished.stderr.strip().splitlines() or ["no output"])[-1]
            raise RapdartsError(f"the {processes}-process search in {path} failed: {reason}")
    directory = RunDirectory(path)
    metrics = directory.read_jsonl("metrics.jsonl")
    return {"run_dir": str(path), "status": status, "genotype": directory.read_json("genotype.json"),
            "valid_acc": metrics[-1]["valid_acc"] if metrics else None, "pid": os.getpid(), "processes": processes}


def cuda_devices() -> int:
    """How many CUDA devices this machine has (0 without torch CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _init_worker(devices: Any) -> None:
    """Give a local worker process its GPUs (before CUDA is initialised in it) and tie its life to the parent's."""
    exit_with_parent()
    device = devices.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)


def run_local(tasks: Iterable[tuple[str, dict[str, Any]]], workers: int, done: Done, processes: int = 1) -> None:
    """Run ``(run_dir, config)`` tasks with ``workers`` processes (in this process when 1); ``done(summary)``
    is called here as each finishes, so results are written as they arrive. Each search runs as a
    ``processes``-process data-parallel job (on as many GPUs of its own, when there are GPUs)."""
    tasks = list(tasks)
    gpus = cuda_devices()
    if processes > 1 and gpus and workers * processes > gpus:
        raise RapdartsError(f"{workers} searches at once with {processes} GPUs each need {workers * processes} GPUs; "
                            f"this machine has {gpus}: lower --workers or --gpus-per-search")
    if workers <= 1 or len(tasks) <= 1:
        for run_dir, config in tasks:
            done(run_sample(run_dir, config, processes))
        return
    context = multiprocessing.get_context("spawn")
    devices = context.Queue()
    for worker in range(workers):
        group = [(worker * processes + k) % gpus for k in range(processes)] if gpus else None
        devices.put(",".join(map(str, group)) if group else None)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(devices,)) as pool:
        pending = {pool.submit(run_sample, run_dir, config, processes) for run_dir, config in tasks}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    done(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def run_ray(tasks: Iterable[tuple[str, dict[str, Any]]], workers: int | None, done: Done,
            address: str | None = None, cpus_per_task: int = 1, gpus_per_task: int = 1) -> None:
    """Run the tasks as Ray tasks on ``address`` or a local instance; at most ``workers`` at once
    (``None``: as many as the cluster's CPUs and GPUs fit). On a cluster with GPUs each task reserves
    ``gpus_per_task`` GPUs of one node (Ray sets ``CUDA_VISIBLE_DEVICES``) and, with more than one,
    runs its search as a data-parallel job over them with torchrun.

    An already initialised Ray (e.g. ``ray.init(num_cpus=2)`` in a notebook) is used as it is.
    """
    try:
        import ray
    except ImportError:
        raise RapdartsError("--backend ray needs Ray: pip install 'rapdarts[ray]'") from None
    if not ray.is_initialized() and address:
        ray.init(address=address)
    elif not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus_per_task > 1 and gpus < gpus_per_task:
        raise RapdartsError(f"--gpus-per-search {gpus_per_task}: the Ray cluster has {gpus} GPUs")
    remote = ray.remote(num_cpus=cpus_per_task * (gpus_per_task if gpus else 1),
                        num_gpus=gpus_per_task if gpus else 0)(run_sample)
    queue = list(tasks)
    running: dict[Any, str] = {}
    while queue or running:
        while queue and (workers is None or len(running) < workers):
            run_dir, config = queue.pop(0)
            running[remote.remote(run_dir, config, gpus_per_task if gpus else 1)] = run_dir
        ready, _ = ray.wait(list(running), num_returns=1)
        for ref in ready:
            running.pop(ref)
            try:
                done(ray.get(ref))
            except ray.exceptions.RayTaskError as error:
                raise RapdartsError(f"a search of the sweep failed on Ray: {error.cause!r}") from None


def run_tasks(tasks: Iterable[tuple[str, dict[str, Any]]], backend: str, workers: int | None, done: Done,
              options: Mapping[str, Any] | None = None) -> None:
    """Dispatch to the ``local`` or ``ray`` backend."""
    if backend == "local":
        run_local(tasks, workers or 1, done, int(dict(options or {}).get("gpus_per_task", 1)))
    elif backend == "ray":
        run_ray(tasks, workers, done, **dict(options or {}))
    else:
        raise RapdartsError(f"unknown backend {backend!r}; choose local or ray")
