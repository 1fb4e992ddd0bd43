"""``rapdarts compare``: several trained or searched runs side by side, as a table and a scatter plot."""

from __future__ import annotations

from pathlib import Path

import click

from rapdarts.cli.cost_commands import warn_failures
from rapdarts.cli.options import output_file, parse_cost_options, plugin_options
from rapdarts.plugins.manager import discover_providers
from rapdarts.train.compare import format_table, plot_rows, summarize_runs, write_json
from rapdarts.train.report import select_providers


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("--cost", "names", multiple=True, metavar="NAME", help="Only these costs (default: every provider).")
@click.option("--plot", metavar="PNG", callback=output_file,
              help="Scatter plot: test error vs parameters and vs latency.")
@click.option("--json", "json_path", metavar="FILE", callback=output_file, help="Also write the rows as JSON.")
@plugin_options("Option for a cost provider (repeatable).")
def compare_command(run_dirs: tuple[str, ...], names: tuple[str, ...], plot: str | None, json_path: str | None,
                    cost_option_items: tuple[str, ...], block_plugins: tuple[str, ...]) -> None:
    """Compare training runs (test error, costs, measured latency) and search runs (costs of their genotype).

    Every run is priced by the same cost providers on the network it was (or will be) trained
    as; searched runs have no test error until they are trained with 'rapdarts train RUN_DIR'.
    """
    discovered = discover_providers(block=block_plugins, options=parse_cost_options(cost_option_items))
    warn_failures(discovered)
    providers = select_providers(names, discovered, parse_cost_options(cost_option_items))
    rows = summarize_runs(run_dirs, providers)
    click.echo(format_table(rows, [p.name for p in providers]))
    if any(row.error is None for row in rows):
        click.echo("(-: no test error; train a searched genotype with 'rapdarts train RUN_DIR')")
    if json_path:
        click.echo(f"rows written to {write_json(rows, json_path)}")
    if plot:
        from rapdarts.train.plots import plot_comparison

        points, label = plot_rows(rows, providers)
        click.echo(f"plot written to {plot_comparison(points, Path(plot), label)}")
