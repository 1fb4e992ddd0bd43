"""The command group; each subcommand lives in a module of its own and is added here."""

from __future__ import annotations

import click

from rapdarts.cli.cost_commands import cost_command, costs_command
from rapdarts.cli.genotype_command import genotype_command, ops_command
from rapdarts.cli.latency_commands import export_ops_command, profile_command, validate_latency
from rapdarts.cli.search_command import search_command
from rapdarts.cli.select_command import select_command
from rapdarts.cli.surrogate_commands import surrogate_group
from rapdarts.cli.sweep_command import sweep_command
from rapdarts.cli.tables_command import tables_group
from rapdarts.cli.training_commands import TRAINING_COMMANDS
from rapdarts.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rapdarts")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def cli(verbose: bool) -> None:
    """Resource-aware progressive differentiable architecture search (RAPDARTS).

    Add --debug anywhere to see full tracebacks.
    """


for command in (search_command, sweep_command, *TRAINING_COMMANDS, genotype_command, ops_command, costs_command,
                cost_command, profile_command, export_ops_command, surrogate_group, validate_latency, tables_group):
    cli.add_command(command)
cli.add_command(select_command)  # after sweep: trains the best genotypes a sweep found
