"""``rapdarts select``: train the best distinct genotypes of a sweep under budgets, and plot error against cost."""

from __future__ import annotations

import logging
from typing import Any

import click

from rapdarts.cli.options import (
    backend_options,
    config_options,
    given,
    parse_budgets,
    parse_cost_options,
    plugin_options,
    run_resumably,
    settings_options,
)
from rapdarts.cli.train_command import PROFILE_CHOICES, resolve_train_config
from rapdarts.errors import RapdartsError
from rapdarts.settings import load_config_file
from rapdarts.sweep.backends import SweepOptions
from rapdarts.sweep.selection_report import PLOT, SelectionReport
from rapdarts.sweep.selection_run import MATCHED, load_selection, start_selection
from rapdarts.train.config import TRAIN_PROFILE_HELP, TrainConfig

log = logging.getLogger("rapdarts")


def _report(report: SelectionReport) -> None:
    click.echo(report.table())
    best = report.best()
    counts = report.plan["counts"]
    click.echo(f"{counts['searches']} searches, {counts['distinct']} distinct genotypes, {counts['meeting_budgets']} "
               f"meeting the budgets, {counts['selected']} trained")
    if best is not None:
        click.echo(f"Best (*): rank {best['rank']}, test error {100 * best['test_error']:.2f}%, "
                   f"{best['parameters']:,} parameters, {report.path / best['run']}")
    click.echo(f"Results: {report.path / 'selection.csv'}, {report.path / 'selection.json'}, {report.path / PLOT}")
    click.echo(f"Selection directory: {report.path}")


@click.command("select")
@click.argument("sweep_dir", required=False, metavar="SWEEP_DIR")
@click.option("--budget", "budget_items", multiple=True, metavar="NAME=VALUE",
              help="Keep genotypes whose cost meets this budget, e.g. params=3M; any cost the sweep priced "
              "(repeatable) [default: the sweep's budgets].")
@click.option("--top", type=int, default=16, show_default=True, help="Train this many distinct genotypes.")
@click.option("--by", "by", multiple=True, metavar="CRITERION",
              help="Rank by a cost (largest first: nearest the budget) or by 'accuracy' (the search's); repeat to "
              "add ranks [default: the swept cost].")
@click.option("--name", default="selection", show_default=True,
              help="The selection's folder inside SWEEP_DIR (several selections can live side by side).")
@click.option("--resume", "resume_dir", metavar="SELECTION_DIR",
              help="Continue an interrupted selection (its folder, or the sweep directory holding 'selection/'); "
              "finished trainings are not redone.")
@settings_options(PROFILE_CHOICES, "Named training settings: " + "; ".join(f"{k}: {v}" for k, v in
                                                                           TRAIN_PROFILE_HELP.items())
                  + "; auto: paper on CUDA, cpu otherwise.", "JSON or TOML training settings.")
@plugin_options("Option for a cost provider of the training reports, e.g. latency.table=table.json (repeatable).")
@backend_options("trainings")
@config_options(TrainConfig, skip=("profile", "cost_options", "block_plugins"))
def select_command(sweep_dir: str | None, budget_items: tuple[str, ...], top: int, by: tuple[str, ...], name: str,
                   resume_dir: str | None, profile: str, config_file: str | None, cost_option_items: tuple[str, ...],
                   block_plugins: tuple[str, ...], workers: int | None, backend: str, gpus_per_search: int,
                   ray_address: str | None, **settings: Any) -> None:
    """Train the TOP distinct genotypes of SWEEP_DIR that meet every budget, ranked, and report them (RAPDARTS Fig. 7).

    Each is trained once however many searches found it, as a normal training run directory in
    SWEEP_DIR/NAME/runs/, on the sweep's backends. Unless given, the dataset and the network's
    width and depth are the sweep's (the network its costs were priced on). Example:
    rapdarts select sweeps/s1 --budget params=3M --top 16 --by params
    """
    options = given(settings)
    backends = SweepOptions(workers, backend, ray_address, gpus_per_search)
    if resume_dir is not None:
        if sweep_dir or budget_items or by or options or config_file or cost_option_items or block_plugins:
            raise RapdartsError("--resume continues with the selection's saved settings; only --workers, --backend, "
                                "--gpus-per-search and --ray-address may change")
        selection = load_selection(resume_dir)
        log.info("resuming selection %s", selection.directory.path)
        _report(run_resumably(lambda: selection.run(backends), "select", selection.directory.path))
        return
    if sweep_dir is None:
        raise RapdartsError("name the sweep directory to select from (rapdarts select SWEEP_DIR), or --resume "
                            "SELECTION_DIR")
    config = resolve_train_config(profile, config_file, options, parse_cost_options(cost_option_items), block_plugins)
    keep = {*options, *(load_config_file(config_file) if config_file else {})} & set(MATCHED)
    where = f"{sweep_dir}/{name}"
    _report(run_resumably(lambda: start_selection(sweep_dir, config, parse_budgets(budget_items), top, list(by), name,
                                                  backends, keep), "select", where))
