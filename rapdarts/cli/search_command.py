"""``rapdarts search``: run or resume a progressive search."""

from __future__ import annotations

import logging
from typing import Any

import click

from rapdarts.api import load_resumable, prepare_search
from rapdarts.cli.options import (
    config_options,
    given,
    layered_config,
    parse_budgets,
    parse_cost_options,
    parse_costs,
    plugin_options,
    run_directory_options,
    run_resumably,
    settings_options,
)
from rapdarts.cli.seed_options import backends_of, resume_seed_study, run_seed_study, seed_options
from rapdarts.errors import RapdartsError
from rapdarts.runtime import distributed
from rapdarts.search.config import PROFILE_HELP, PROFILES, SearchConfig, profile_config
from rapdarts.search.progressive import SearchResult
from rapdarts.sweep.seeds import is_seed_study, search_seeds

log = logging.getLogger("rapdarts")

PROFILE_CHOICES = ("auto", *PROFILES)
PROFILE_NOTES = {"paper": "published settings", "cpu": "scaled down for CPUs; --profile paper for the published "
                 "settings", "tiny": "for tests only"}


def resolve_config(profile: str, config_file: str | None, options: dict[str, Any], costs: dict[str, float],
                   cost_options: dict[str, str] | None = None, block_plugins: tuple[str, ...] = (),
                   budgets: dict[str, str] | None = None) -> SearchConfig:
    """Profile defaults, then the config file, then command-line options, then ``--cost`` and ``--budget``."""
    return layered_config(profile, PROFILES, profile_config, config_file, options, [
        ("costs", "--cost", costs), ("cost_options", "--cost-option", cost_options),
        ("block_plugins", "--block-plugin", block_plugins), ("budgets", "--budget", budgets)])


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
@run_directory_options("Continue the interrupted search in RUN_DIR (or seed study, see --seeds).")
@seed_options("searches", "how often the same genotype comes back and the spread of its costs and accuracy")
@config_options(SearchConfig, skip=("costs", "profile", "cost_options", "block_plugins", "budgets"))
def search_command(profile: str, config_file: str | None, cost_items: tuple[str, ...], budget_items: tuple[str, ...],
                   cost_option_items: tuple[str, ...], block_plugins: tuple[str, ...], runs_dir: str,
                   run_dir: str | None, resume_dir: str | None, progress: bool, seeds: int | None,
                   workers: int | None, backend: str, gpus_per_search: int, ray_address: str | None,
                   **settings: Any) -> None:
    """Search a cell architecture with P-DARTS, optionally under resource costs.

    With no options: a real three-stage search of the embedded digits dataset (a few minutes
    on a CPU). Settings come from --profile, then --config, then the options below.
    """
    options = given(settings)
    backends = backends_of(workers, backend, ray_address, gpus_per_search)
    if resume_dir is not None:
        if options or config_file or cost_items or run_dir or cost_option_items or block_plugins or budget_items \
                or seeds:
            raise RapdartsError("--resume continues with the run's saved settings; drop the other options")
        if is_seed_study(resume_dir):
            resume_seed_study("search", resume_dir, backends)
            return
        runner = load_resumable(resume_dir, show_progress=progress)
    else:
        config = resolve_config(profile, config_file, options, parse_costs(cost_items),
                                parse_cost_options(cost_option_items), block_plugins, parse_budgets(budget_items))
        if seeds:
            run_seed_study("search", lambda path: search_seeds(config, seeds, path, options=backends), run_dir,
                           runs_dir)
            return
        # Unknown costs, bad budgets and missing data fail here, before the run directory exists.
        runner = prepare_search(config, run_dir, runs_dir, show_progress=progress)
        log.info("profile %s (%s); dataset %s; device %s", config.profile, PROFILE_NOTES.get(config.profile, ""),
                 config.dataset, runner.device)
        log.info("run directory %s", runner.run_dir.path)
    result = run_resumably(runner.run, "search", runner.run_dir.path)
    if distributed.current().main:  # the other ranks of a data-parallel job stay silent
        _report(result)
