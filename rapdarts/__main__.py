"""``python -m rapdarts`` runs the CLI."""

from .cli import run

run()
