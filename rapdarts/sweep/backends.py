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
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapdarts.errors import RapdartsError
from rapdarts.runtime.lifetime import exit_with_parent

log = logging.getLogger("rapdarts")



@dataclass
class SweepOptions:
    """How to run a sweep's jobs, searches or trainings (not part of what is computed; may change on resume)."""

    workers: int | None = None
    backend: str = "local"
    ray_address: str | None = None
    gpus_per_search: int = 1
    """Each job a data-parallel job over this many GPUs (torchrun inside the worker)."""


Done = Callable[[dict[str, Any]], None]
Work = Callable[[str, dict[str, Any], int], dict[str, Any]]
"""A job: ``work(run_dir, task, processes)`` runs, resumes or skips one run and returns a picklable summary."""


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
    from rapdarts.storage.rundir import RunDirectory

    path = Path(run_dir)
    if (path / "genotype.json").exists():
        status, command = "done before", None
    elif (path / RunDirectory.CHECKPOINT).exists() or (path / "config.json").exists():
        status, command = "resumed", ["search", "--resume", str(path)]
    else:
        status, command = "ran", ["search", "--run-dir", str(path), "--config", "{config.json}"]
    if command is not None:
        launch_with_torchrun(command, {"config.json": config}, processes, f"the {processes}-process search in {path}")
    directory = RunDirectory(path)
    metrics = directory.read_jsonl("metrics.jsonl")
    return {"run_dir": str(path), "status": status, "genotype": directory.read_json("genotype.json"),
            "valid_acc": metrics[-1]["valid_acc"] if metrics else None, "pid": os.getpid(), "processes": processes}


def launch_with_torchrun(command: list[str], files: Mapping[str, Any], processes: int, what: str) -> None:
    """``torchrun --standalone --nproc-per-node N -m rapdarts COMMAND --no-progress``.

    ``files`` are JSON written to a temporary folder first, each ``{name}`` in ``command`` replaced by
    its path. A failure is one line naming ``what``.
    """
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rapdarts-job-") as work:
        for name, content in files.items():
            (Path(work) / name).write_text(json.dumps(content))
        arguments = [str(Path(work) / part[1:-1]) if part.startswith("{") and part[1:-1] in files else part
                     for part in command]
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                  "-m", "rapdarts", *arguments, "--no-progress"]
        finished = subprocess.run(launch, capture_output=True, text=True)
    if finished.returncode != 0:
        lines = [line for line in finished.stderr.splitlines() if "rapdarts" in line and "error" in line]
        reason = lines[-1] if lines else (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise RapdartsError(f"{what} failed: {reason}")


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


def run_local(tasks: Iterable[tuple[str, dict[str, Any]]], workers: int, done: Done, processes: int = 1,
              work: Work = run_sample) -> None:
    """Run ``(run_dir, task)`` tasks through ``work`` (a search by default) with ``workers`` processes (in this process
    when 1); ``done(summary)`` is called here as each finishes, so results are written as they arrive. Each job
    runs as a ``processes``-process data-parallel job (on as many GPUs of its own, when there are GPUs)."""
    tasks = list(tasks)
    gpus = cuda_devices()
    if processes > 1 and gpus and workers * processes > gpus:
        raise RapdartsError(f"{workers} searches at once with {processes} GPUs each need {workers * processes} GPUs; "
                            f"this machine has {gpus}: lower --workers or --gpus-per-search")
    if workers <= 1 or len(tasks) <= 1:
        for run_dir, config in tasks:
            done(work(run_dir, config, processes))
        return
    context = multiprocessing.get_context("spawn")
    devices = context.Queue()
    for worker in range(workers):
        group = [(worker * processes + k) % gpus for k in range(processes)] if gpus else None
        devices.put(",".join(map(str, group)) if group else None)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(devices,)) as pool:
        pending = {pool.submit(work, run_dir, config, processes) for run_dir, config in tasks}
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
            address: str | None = None, cpus_per_task: int = 1, gpus_per_task: int = 1,
            work: Work = run_sample) -> None:
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
                        num_gpus=gpus_per_task if gpus else 0)(work)
    queue = list(tasks)
    running: dict[Any, str] = {}
    while queue or running:
        while queue and (workers is None or len(running) < workers):
            run_dir, config = queue.pop(0)
            running[remote.remote(run_dir, config, gpus_per_task if gpus else 1)] = run_dir
        ready, _ = ray.wait(list(running), num_returns=1)
        for ref in ready:
            running_dir = running.pop(ref)
            try:
                done(ray.get(ref))
            except ray.exceptions.RayTaskError as error:
                raise RapdartsError(f"a job failed on Ray ({running_dir}): {error.cause!r}") from None


def run_tasks(tasks: Iterable[tuple[str, dict[str, Any]]], backend: str, workers: int | None, done: Done,
              options: Mapping[str, Any] | None = None, work: Work = run_sample) -> None:
    """Dispatch to the ``local`` or ``ray`` backend; ``work`` is the job (a search by default, or a training)."""
    if backend == "local":
        run_local(tasks, workers or 1, done, int(dict(options or {}).get("gpus_per_task", 1)), work)
    elif backend == "ray":
        run_ray(tasks, workers, done, **dict(options or {}), work=work)
    else:
        raise RapdartsError(f"unknown backend {backend!r}; choose local or ray")


def job_slots(options: SweepOptions, device: str) -> tuple[int | None, int | None]:
    """``(workers, threads)``: jobs at once (local: one per GPU, or per ``gpus_per_search`` GPUs, else 1; Ray:
    ``None``, as many as fit) and torch threads per job on CPUs (the cores shared out; ``None`` on CUDA)."""
    workers = options.workers or (None if options.backend == "ray" else
                                  max(1, cuda_devices() // options.gpus_per_search))
    threads = None if device.startswith("cuda") else max(1, (os.cpu_count() or 1) // (workers or 1))
    return workers, threads


def run_jobs(tasks: Iterable[tuple[str, dict[str, Any]]], options: SweepOptions, workers: int | None,
             threads: int | None, done: Done, work: Work = run_sample) -> None:
    """:func:`run_tasks` with the backend, cluster and GPUs of ``options`` (``workers``, ``threads``: from
    :func:`job_slots`)."""
    settings = {"address": options.ray_address, "cpus_per_task": threads or 1,
                "gpus_per_task": options.gpus_per_search} if options.backend == "ray" \
        else {"gpus_per_task": options.gpus_per_search}
    run_tasks(tasks, options.backend, workers, done, settings, work)


def search_finished(path: Path) -> bool:
    """A search run directory with its ``genotype.json``: finished, never run again."""
    return (path / "genotype.json").exists()


def run_unfinished(jobs: Sequence[tuple[Path, Callable[[int | None], dict[str, Any]]]],
                   finished: Callable[[Path], bool], options: SweepOptions, device: str, done: Done, work: Work,
                   what: str) -> None:
    """The jobs of a resumable study (selection, seeds): ``(run directory, task(threads))`` each. Finished ones are
    read here (``work`` on a finished run only reads its summary), the rest run on the backends of ``options``;
    ``done(summary)`` for every one, as each finishes."""
    workers, threads = job_slots(options, device)
    todo = []
    for path, task in jobs:
        if finished(path):
            done(work(str(path), {}, 1))
        else:
            todo.append((str(path), task(threads)))
    log.info("%s: %d of %d to run, %s at a time (%s)", what, len(todo), len(jobs), workers or "as many as fit",
             options.backend)
    run_jobs(todo, options, workers, threads, done, work)
