"""The ``rapdarts`` command line: a thin layer that turns options into configs and API calls.

click is used rather than argparse for nested subcommands, typed options and its test runner.
Every error meant for users is a :class:`~rapdarts.errors.RapdartsError` (or a click usage
error) and is printed as one line, with exit status 2 and no traceback unless ``--debug`` is
given anywhere on the command line.
"""

from __future__ import annotations

import logging
import sys
import traceback
import warnings
from collections.abc import Sequence

import click

from rapdarts.cli.commands import cli
from rapdarts.errors import Interrupted, RapdartsError
from rapdarts.runtime import distributed

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when the handler was made.

    Callers that redirect or capture stderr after ``main`` ran (a notebook, a test runner, a
    second ``main`` call) would otherwise be left with a handler that writes to a closed stream.
    """

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it once; the property ignores it
        pass


def _configure_logging(verbose: bool) -> None:
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("rapdarts")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def _who(command: str) -> str:
    """The command, with the rank in a data-parallel job (an error on one rank must say which)."""
    job = distributed.current()
    return f"{command} (rank {job.rank} of {job.world_size})" if job.distributed else command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (``--debug`` anywhere shows tracebacks)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    _configure_logging("-v" in args or "--verbose" in args)
    if not debug:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    command = "rapdarts"
    try:
        cli.main(args=args, prog_name="rapdarts", standalone_mode=False)
        return 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        if debug:
            raise
        context = getattr(error, "ctx", None)
        if context is not None:
            command = context.command_path
        click.echo(f"{command}: error: {error.format_message()} (see '{command} --help')", err=True)
        return EXIT_BAD_INPUT
    except Interrupted as stopped:
        click.echo(f"{_who(command)}: interrupted; continue with: {stopped}", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Abort:
        click.echo(f"{command}: interrupted", err=True)
        return EXIT_INTERRUPTED
    except RapdartsError as error:
        if debug:
            raise
        click.echo(f"{_who(command)}: error: {error}", err=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        click.echo(f"{command}: interrupted (continue with 'rapdarts search --resume RUN_DIR', "
                   "'rapdarts train --resume RUN_DIR' or 'rapdarts sweep --resume SWEEP_DIR')", err=True)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - last line of defence: one line, details with --debug
        if debug:
            traceback.print_exc()
            return EXIT_FAILURE
        click.echo(f"{_who(command)}: internal error: {type(error).__name__}: {error} (rerun with --debug for the "
                   "traceback)", err=True)
        return EXIT_FAILURE


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
