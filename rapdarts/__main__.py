"""``python -m rapdarts`` runs the CLI."""

from rapdarts.cli import run

run()
