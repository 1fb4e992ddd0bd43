"""The commands that use discovered architectures: train, evaluate, export, compare."""

from __future__ import annotations

from rapdarts.cli.compare_command import compare_command
from rapdarts.cli.evaluate_command import evaluate_command
from rapdarts.cli.export_command import export_command
from rapdarts.cli.train_command import train_command

TRAINING_COMMANDS = (train_command, evaluate_command, export_command, compare_command)
