"""The commands that use discovered architectures: train, evaluate, export, compare."""

from __future__ import annotations

from .compare_command import compare_command
from .evaluate_command import evaluate_command
from .export_command import export_command
from .train_command import train_command

TRAINING_COMMANDS = (train_command, evaluate_command, export_command, compare_command)
