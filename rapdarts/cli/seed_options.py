"""``--seeds N`` of ``rapdarts train`` and ``rapdarts search``: one run with N seeds, through the sweep backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from rapdarts.cli.options import backend_options, run_resumably
from rapdarts.errors import RapdartsError
from rapdarts.runtime import distributed
from rapdarts.storage.rundir import RunDirectory
from rapdarts.sweep.backends import SweepOptions
from rapdarts.sweep.seed_summary import SeedSummary
from rapdarts.sweep.seeds import resume_seeds


def seed_options(what: str, reported: str) -> Callable[[Callable], Callable]:
    """``--seeds`` and the backend options (which only matter with it)."""
    def decorate(function: Callable) -> Callable:
        function = backend_options(f"{what} (with --seeds)")(function)
        return click.option("--seeds", type=click.IntRange(min=2), metavar="N",
                            help=f"Run with N seeds (the seed setting, +1, ...) in parallel and report {reported}; "
                            "--run-dir/--runs-dir then name the study's directory, each seed a run in it, and "
                            "--resume STUDY_DIR continues it.")(function)
    return decorate


def backends_of(workers: int | None, backend: str, ray_address: str | None, gpus_per_search: int) -> SweepOptions:
    return SweepOptions(workers, backend, ray_address, gpus_per_search)


def report_seeds(summary: SeedSummary) -> None:
    click.echo(summary.table())
    click.echo(summary.headline())
    click.echo(f"Results: {summary.path / 'summary.json'}, {summary.path / 'seeds.csv'}, "
               f"{summary.path / 'plots' / 'seeds.png'}")
    click.echo(f"Seed study directory: {summary.path}")


def run_seed_study(kind: str, start: Callable[[Path], SeedSummary], run_dir: str | None, runs_dir: str) -> None:
    """Name the study directory, run ``start(directory)`` (Ctrl-C names the command that resumes it) and report."""
    if distributed.cluster().distributed:
        raise RapdartsError(f"--seeds starts its {kind} runs itself: run it without torchrun, and give each run "
                            "several GPUs with --gpus-per-run")
    path = RunDirectory.new(run_dir, runs_dir, f"{kind}-seeds").path
    report_seeds(run_resumably(lambda: start(path), kind, path))


def resume_seed_study(kind: str, path: str, backends: SweepOptions) -> None:
    report_seeds(run_resumably(lambda: resume_seeds(path, backends), kind, path))
