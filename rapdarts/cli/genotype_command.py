"""``rapdarts genotype`` and ``rapdarts ops``: inspect architectures and the search space."""

from __future__ import annotations

from pathlib import Path

import click

from rapdarts.cli.options import output_file
from rapdarts.space.genotype import load_genotype, preset_names
from rapdarts.space.network import EVAL_CELLS, EVAL_CHANNELS, EvalNetwork, count_parameters
from rapdarts.space.ops import build_op, primitives


@click.command("genotype")
@click.argument("source", required=False)
@click.option("--list", "list_presets", is_flag=True, help="List the shipped presets.")
@click.option("--json", "as_json", is_flag=True, help="Print the genotype as JSON only.")
@click.option("--plot", metavar="PNG", callback=output_file, help="Draw the two cells into this file.")
@click.option("--init-channels", "--channels", "init_channels", default=EVAL_CHANNELS, type=click.IntRange(min=2),
              show_default=True,
              help="Evaluation network width C.")
@click.option("--cells", "--layers", "cells", default=EVAL_CELLS, type=click.IntRange(min=3), show_default=True,
              help="Evaluation network depth (cells).")
@click.option("--classes", default=10, type=click.IntRange(min=2), show_default=True, help="Number of classes.")
def genotype_command(source: str | None, list_presets: bool, as_json: bool, plot: str | None, init_channels: int,
                     cells: int, classes: int) -> None:
    """Validate and describe SOURCE: a preset name, a genotype JSON file or a run directory.

    Prints the cells and the evaluation network's parameter count (with and without the
    auxiliary head; the literature quotes the count without it).
    """
    if list_presets or source is None:
        click.echo("\n".join(preset_names()))
        return
    genotype = load_genotype(source)
    if as_json:
        click.echo(genotype.to_json())
        return
    for cell in ("normal", "reduce"):
        edges, concat = genotype.cell(cell)
        click.echo(f"{cell:6s} " + ", ".join(f"{op}<-{i}" for op, i in edges) + f"  (concat {list(concat)})")
    count = count_parameters(EvalNetwork(genotype, init_channels, classes, cells, auxiliary=True))
    click.echo(f"parameters (C={init_channels}, {cells} cells, {classes} classes): {count.without_auxiliary:,} "
               f"without the auxiliary head, {count.total:,} with it")
    if plot:
        from rapdarts.space.drawing import plot_cells

        click.echo(f"cells drawn to {plot_cells(genotype, Path(plot), source)}")


@click.command("ops")
@click.option("--channels", "channels", default=16, type=click.IntRange(min=1), show_default=True,
              help="Channels C of the op (parameter column).")
def ops_command(channels: int) -> None:
    """List the candidate ops of the search space and their parameters at C channels."""
    for name in primitives():
        params = {stride: sum(p.numel() for p in build_op(name, channels, stride, True).parameters())
                  for stride in (1, 2)}
        click.echo(f"{name:14s} params stride 1: {params[1]:>6,}  stride 2: {params[2]:>6,}")
