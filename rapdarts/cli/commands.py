"""The command group; each subcommand lives in a module of its own and is added here."""

from __future__ import annotations

import click

from .. import __version__
from .cost_commands import cost_command, costs_command
from .genotype_command import genotype_command, ops_command
from .latency_commands import export_ops_command, profile_command, surrogate_group, validate_latency
from .search_command import search_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rapdarts")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def cli(verbose: bool) -> None:
    """Resource-aware progressive differentiable architecture search (RAPDARTS).

    Add --debug anywhere to see full tracebacks.
    """


cli.add_command(search_command)
cli.add_command(genotype_command)
cli.add_command(ops_command)
cli.add_command(costs_command)
cli.add_command(cost_command)
cli.add_command(profile_command)
cli.add_command(export_ops_command)
cli.add_command(surrogate_group)
cli.add_command(validate_latency)
# issue-5 commands (train, evaluate, export, compare)
from .training_commands import TRAINING_COMMANDS  # noqa: E402
for _command in TRAINING_COMMANDS: cli.add_command(_command)  # noqa: E701
# issue-6 commands (sweep)
from .sweep_command import sweep_command; cli.add_command(sweep_command)  # noqa: E402, E702
