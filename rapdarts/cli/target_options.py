"""Options shared by commands that price or time a network: its shape and ONNX Runtime settings."""

from __future__ import annotations

from collections.abc import Callable

import click

from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.ondevice import OPTIMIZATION_LEVELS, ProfilingError, TimingSettings, check_settings
from rapdarts.space.network import EVAL_CELLS, EVAL_CHANNELS

DEFAULT_TIMING = TimingSettings()

DATASET_SHAPES = {"digits": (1, 8, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100)}
"""(input channels, image size, classes) of the datasets whose shape is known without loading them."""


def target_options(function: Callable) -> Callable:
    """--dataset/--init-channels/--cells/--classes/--image-size/--in-channels/--batch."""
    options = [
        click.option("--dataset", type=click.Choice(tuple(DATASET_SHAPES)), help="Take input shape and classes "
                     "from this dataset (default: CIFAR-10 shapes)."),
        click.option("--init-channels", "--channels", "init_channels", default=EVAL_CHANNELS,
                     type=click.IntRange(min=2), show_default=True, help="Evaluation network width C."),
        click.option("--cells", "--layers", "cells", default=EVAL_CELLS, type=click.IntRange(min=3), show_default=True,
                     help="Evaluation network cells."),
        click.option("--classes", type=click.IntRange(min=2),
                     help="Number of classes [default: from --dataset, else 10]."),
        click.option("--image-size", type=click.IntRange(min=1),
                     help="Input height and width [default: from --dataset, else 32]."),
        click.option("--in-channels", type=click.IntRange(min=1),
                     help="Input channels [default: from --dataset, else 3]."),
        click.option("--batch", default=1, type=click.IntRange(min=1), show_default=True,
                     help="Batch size of the op specs."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def target_from(options: dict) -> TargetNetwork:
    """Pop the target options from a command's keyword arguments and build the target."""
    in_channels, size, classes = DATASET_SHAPES.get(options.pop("dataset", None) or "cifar10")
    in_channels = options.pop("in_channels", None) or in_channels
    size = options.pop("image_size", None) or size
    classes = options.pop("classes", None) or classes
    init_channels, cells, batch = options.pop("init_channels"), options.pop("cells"), options.pop("batch")
    if min(init_channels, cells, batch, in_channels, size, classes) < 1:
        raise RapdartsError("network shape options must be positive")
    return TargetNetwork(DataShape(classes, in_channels, (size, size)), init_channels, cells, batch)


def timing_options(function: Callable) -> Callable:
    """--provider/--threads/--optimization/--warmup/--repeats/--sessions for ONNX Runtime timing."""
    options = [
        click.option("--provider", default="CPUExecutionProvider", show_default=True,
                     help="ONNX Runtime execution provider."),
        click.option("--threads", default=1, type=click.IntRange(min=1), show_default=True, help="Intra-op threads."),
        click.option("--optimization", type=click.Choice(OPTIMIZATION_LEVELS), default="all", show_default=True,
                     help="Graph optimisation level."),
        click.option("--warmup", default=DEFAULT_TIMING.warmup, type=click.IntRange(min=0), show_default=True,
                     help="Untimed runs per session."),
        click.option("--repeats", default=DEFAULT_TIMING.repeats, type=click.IntRange(min=1), show_default=True,
                     help="Timed runs per session."),
        click.option("--block", default=DEFAULT_TIMING.block, type=click.IntRange(min=1), show_default=True,
                     help="Runs per block: a session's timed runs are summarised by the medians of blocks of this "
                     "many, and the latency is the 10th percentile of all block medians (Harrell-Davis estimate)."),
        click.option("--sessions", default=DEFAULT_TIMING.sessions, type=click.IntRange(min=1), show_default=True,
                     help="Fresh sessions per op and network (interleaved rounds)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def timing_from(options: dict) -> TimingSettings:
    settings = TimingSettings(options.pop("provider"), options.pop("threads"), 1, options.pop("optimization"),
                              options.pop("warmup"), options.pop("repeats"), options.pop("sessions"),
                              options.pop("block"))
    try:
        check_settings(settings)
    except ProfilingError as error:
        raise RapdartsError(str(error)) from None
    return settings
