"""``rapdarts search``: run or resume a progressive search."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from ..config import PROFILE_HELP, PROFILES, SearchConfig, profile_config
from ..errors import RapdartsError
from ..progress import logs_above_bars
from ..rundir import RunDirectory
from ..search import ProgressiveSearch, SearchResult, default_extensions, load_resumable
from .options import (config_options, given, layered_config, parse_assignments, plugin_options,
                      run_directory_options, settings_options)

log = logging.getLogger("rapdarts")

PROFILE_CHOICES = ("auto", *PROFILES)


def resolve_config(profile: str, config_file: str | None, options: dict[str, Any], costs: dict[str, float],
                   cost_options: dict[str, str] | None = None, block_plugins: tuple[str, ...] = (),
                   budgets: dict[str, str] | None = None) -> SearchConfig:
    """Profile defaults, then the config file, then command-line options, then ``--cost`` and ``--budget``."""
    return layered_config(profile, PROFILES, profile_config, config_file, options, [
        ("costs", "--cost", costs), ("cost_options", "--cost-option", cost_options),
        ("block_plugins", "--block-plugin", block_plugins), ("budgets", "--budget", budgets)])


def _attach_log_file(run_dir: RunDirectory) -> logging.Handler:
    handler = logging.FileHandler(run_dir.file("search.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return handler


def _prepare_run_dir(run_dir: str | None, runs_root: str) -> RunDirectory:
    if run_dir is None:
        return RunDirectory.create(runs_root)
    path = Path(run_dir)
    _refuse_used(path)
    path.mkdir(parents=True, exist_ok=True)
    return RunDirectory(path)


def _refuse_used(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise RapdartsError(f"run directory {path} already has files; choose a new one, or continue it with "
                            f"--resume {path}")


def _report(result: SearchResult) -> None:
    genotype = result.genotype
    click.echo("Discovered genotype:")
    for cell in ("normal", "reduce"):
        edges, concat = genotype.cell(cell)
        click.echo(f"  {cell:6s} " + ", ".join(f"{op}<-{i}" for op, i in edges) + f"  (concat {list(concat)})")
    click.echo(f"Genotype file: {result.run_dir / 'genotype.json'}")
    click.echo(f"Run directory: {result.run_dir}")


@click.command("search")
@settings_options(PROFILE_CHOICES, "Named settings: " + "; ".join(f"{k}: {v}" for k, v in PROFILE_HELP.items())
                  + "; auto: paper on CUDA, cpu otherwise.", "JSON or TOML settings (a run's config.json reruns it).")
@click.option("--cost", "cost_items", multiple=True, metavar="NAME=LAMBDA",
              help="Add lambda * expected cost NAME to the loss (repeatable; see 'rapdarts costs').")
@click.option("--budget", "budget_items", multiple=True, metavar="NAME=VALUE",
              help="Resource budget the derived architecture must meet, e.g. params=3M or latency=4ms; the search "
              "adapts the cost's lambda itself (repeatable).")
@plugin_options()
@run_directory_options("Continue the interrupted search in RUN_DIR.")
@config_options(SearchConfig, skip=("costs", "profile", "cost_options", "block_plugins", "budgets"))
def search_command(profile: str, config_file: str | None, cost_items: tuple[str, ...], budget_items: tuple[str, ...],
                   cost_option_items: tuple[str, ...], block_plugins: tuple[str, ...], runs_dir: str,
                   run_dir: str | None, resume_dir: str | None, progress: bool, **settings: Any) -> None:
    """Search a cell architecture with P-DARTS, optionally under resource costs.

    With no options: a real three-stage search of the embedded digits dataset (a few minutes
    on a CPU). Settings come from --profile, then --config, then the options below.
    """
    options = given(settings)
    if resume_dir is not None:
        if options or config_file or cost_items or run_dir or cost_option_items or block_plugins or budget_items:
            raise RapdartsError("--resume continues with the run's saved settings; drop the other options")
        runner = load_resumable(resume_dir, show_progress=progress)
        directory = runner.run_dir
        log.info("resuming %s at stage %d epoch %d", directory.path, runner.stage + 1, runner.epoch + 1)
    else:
        budgets = _pairs(budget_items, "--budget", "NAME=VALUE, e.g. params=3M")
        config = resolve_config(profile, config_file, options, parse_assignments(cost_items, "--cost"),
                                _pairs(cost_option_items), block_plugins, budgets)
        extensions = default_extensions(config)  # unknown costs fail here, before a run directory exists
        if run_dir is not None:
            _refuse_used(Path(run_dir))
        # Loading the data and checking budgets against the search space write nothing yet.
        runner = ProgressiveSearch(config, RunDirectory(run_dir or runs_dir), extensions, show_progress=progress)
        directory = runner.run_dir = _prepare_run_dir(run_dir, runs_dir)
        note = {"paper": "published settings", "cpu": "scaled down for CPUs; --profile paper for the published "
                "settings", "tiny": "for tests only"}.get(config.profile, "")
        log.info("profile %s (%s); dataset %s; device %s", config.profile, note, config.dataset, runner.device)
        log.info("run directory %s", directory.path)
    handler = _attach_log_file(directory)
    try:
        with logs_above_bars():
            result = runner.run()
        _report(result)
    finally:
        log.removeHandler(handler)
        handler.close()


def _pairs(items: tuple[str, ...], option: str = "--cost-option",
           form: str = "KEY=VALUE, e.g. latency.table=table.json") -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RapdartsError(f"{option} {item!r} must look like {form}")
        pairs[key] = value
    return pairs
