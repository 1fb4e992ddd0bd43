"""``rapdarts sweep``: the paper's lambda sweep, in parallel, resumable, with an optional refinement."""

from __future__ import annotations

import logging
from typing import Any

import click

from rapdarts.cli.options import (
    backend_options,
    config_options,
    given,
    output_directory,
    parse_budgets,
    parse_cost_options,
    plugin_options,
    runs_root,
    settings_options,
)
from rapdarts.cli.search_command import PROFILE_CHOICES, resolve_config
from rapdarts.errors import Interrupted, RapdartsError
from rapdarts.runtime import distributed
from rapdarts.search.config import SearchConfig
from rapdarts.storage.rundir import RunDirectory
from rapdarts.sweep.plan import plan_sweep
from rapdarts.sweep.results import SweepResults
from rapdarts.sweep.runner import SweepOptions, load_sweep, start_sweep

log = logging.getLogger("rapdarts")

SKIPPED = ("costs", "profile", "cost_options", "block_plugins", "budgets", "budget_step", "budget_init",
           "budget_temperature", "budget_repair")


def _report(results: SweepResults) -> None:
    click.echo(results.table())
    best = results.best()
    if results.plan["budgets"]:
        if best is None:
            click.echo("No search met every budget.")
        else:
            click.echo(f"Best under budget (*): search {best['index']}, lambda {best['lambda']:.4g}, "
                       f"{best['run']}/genotype.json")
    click.echo(f"Results: {results.path / 'results.csv'}, {results.path / 'results.json'}, "
               f"{results.path / 'plots' / 'cost_vs_lambda.png'}")
    click.echo(f"Sweep directory: {results.path}")


@click.command("sweep")
@click.option("--cost", "cost", metavar="NAME", help="The cost whose lambda is swept (see 'rapdarts costs').")
@click.option("--lambda-range", nargs=2, type=float, metavar="LOW HIGH",
              help="Draw lambda log-uniformly from [LOW, HIGH] (the paper: 1e-11 1e-6 for params).")
@click.option("--samples", type=click.IntRange(min=1), default=20, show_default=True, help="Searches per round.")
@click.option("--budget", "budget_items", multiple=True, metavar="NAME=VALUE",
              help="Budget on the swept cost each result is judged by, e.g. params=3M (repeatable).")
@click.option("--refine", is_flag=True, help="After the first round, sample again between the largest lambda over "
              "budget and the smallest under it.")
@click.option("--refine-rounds", type=click.IntRange(min=0), default=1, show_default=True,
              help="Refinement rounds with --refine.")
@click.option("--sampler-seed", type=click.IntRange(min=0), help="Seed of the lambda draws [default: the search seed].")
@backend_options()
@click.option("--sweep-dir", metavar="DIR", callback=output_directory,
              help="Exact (new or empty) directory for this sweep.")
@click.option("--sweeps-dir", default="sweeps", show_default=True, callback=runs_root,
              help="Where new sweep directories are created.")
@click.option("--resume", "resume_dir", metavar="SWEEP_DIR", help="Continue an interrupted sweep; finished "
              "searches are not run again.")
@settings_options(PROFILE_CHOICES, "Named search settings (see 'rapdarts search --help').",
                  "JSON or TOML search settings.")
@plugin_options()
@config_options(SearchConfig, skip=SKIPPED)
def sweep_command(cost: str | None, lambda_range: tuple[float, float] | None, samples: int,
                  budget_items: tuple[str, ...], refine: bool, refine_rounds: int, sampler_seed: int | None,
                  workers: int | None, backend: str, gpus_per_search: int, ray_address: str | None,
                  sweep_dir: str | None, sweeps_dir: str,
                  resume_dir: str | None, profile: str, config_file: str | None, cost_option_items: tuple[str, ...],
                  block_plugins: tuple[str, ...], **settings: Any) -> None:
    """Run many searches with lambda drawn log-uniformly and judge each against budgets (RAPDARTS Figs. 5-6).

    Example: rapdarts sweep --cost params --lambda-range 1e-9 1e-6 --samples 20 --budget params=3M --refine
    """
    if workers is not None and workers < 1:
        raise RapdartsError(f"--workers {workers}: need at least 1")
    if distributed.cluster().distributed:
        raise RapdartsError("a sweep starts its searches itself: run 'rapdarts sweep' without torchrun, and give "
                            "each search several GPUs with --gpus-per-search")
    options = SweepOptions(workers, backend, ray_address, gpus_per_search)
    if resume_dir is not None:
        if cost or lambda_range or budget_items or refine or sweep_dir or config_file or given(settings) \
                or cost_option_items or block_plugins or sampler_seed is not None:
            raise RapdartsError("--resume continues with the sweep's saved settings; only --workers, --backend, "
                                "--gpus-per-search and --ray-address may change")
        sweep = load_sweep(resume_dir)
        log.info("resuming sweep %s", sweep.directory.path)
        _report(_run(sweep.run, options, sweep.directory.path))
        return
    if not cost:
        raise RapdartsError("name the cost whose lambda is swept with --cost NAME (e.g. --cost params)")
    if "=" in cost:
        raise RapdartsError(f"--cost {cost}: give only the cost name; the sweep draws its lambda from --lambda-range")
    if lambda_range is None:
        raise RapdartsError("give the lambda range with --lambda-range LOW HIGH (e.g. 1e-11 1e-6)")
    config = resolve_config(profile, config_file, given(settings), {}, parse_cost_options(cost_option_items),
                            block_plugins)
    budgets = parse_budgets(budget_items)
    plan = plan_sweep(config, cost, *lambda_range, samples, budgets, refine_rounds if refine else 0, sampler_seed)
    directory = RunDirectory.new(sweep_dir, sweeps_dir, "sweep")
    _report(_run(lambda o: start_sweep(plan, directory.path, options=o), options, directory.path))


def _run(run: Any, options: SweepOptions, where: Any) -> SweepResults:
    try:
        return run(options)
    except KeyboardInterrupt:
        raise Interrupted(f"rapdarts sweep --resume {where} (finished searches are kept, interrupted ones resume "
                          "from their last epoch)") from None
