"""``rapdarts costs`` (list providers) and ``rapdarts cost`` (price an architecture)."""

from __future__ import annotations

import click

from ..costs import CostEvaluator, TargetNetwork, genotype_costs
from ..costs.plugins import discover_providers
from ..genotype import load_genotype
from ..network import EvalNetwork, count_parameters
from .search_command import _pairs


def format_cost(value: float) -> str:
    """Whole numbers with thousands separators, others with 6 significant digits."""
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6g}"


@click.command("costs")
@click.option("--block-plugin", "block_plugins", multiple=True, metavar="NAME", help="Do not load this plugin.")
@click.option("--cost-option", "cost_option_items", multiple=True, metavar="KEY=VALUE",
              help="Option for a cost provider (repeatable).")
def costs_command(block_plugins: tuple[str, ...], cost_option_items: tuple[str, ...]) -> None:
    """List every discovered cost provider with its unit and package; report broken plugins."""
    providers = discover_providers(block=block_plugins, options=_pairs(cost_option_items))
    rows = [(p.name, p.unit, p.package, p.description) for p in sorted(providers.by_name.values(), key=lambda p: p.name)]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("cost", "unit", "package"))]
    click.echo(f"{'cost':{widths[0]}}  {'unit':{widths[1]}}  {'package':{widths[2]}}  description")
    for name, unit, package, description in rows:
        click.echo(f"{name:{widths[0]}}  {unit:{widths[1]}}  {package:{widths[2]}}  {description}")
    for failure in providers.failures:
        click.echo(f"warning: {failure.message()} (block it with --block-plugin {failure.plugin})", err=True)


@click.command("cost")
@click.argument("source")
@click.option("--cost", "names", multiple=True, metavar="NAME", help="Only these costs (default: every provider).")
@click.option("--channels", default=36, show_default=True, help="Evaluation network width C.")
@click.option("--layers", default=20, show_default=True, help="Evaluation network cells.")
@click.option("--classes", default=10, show_default=True, help="Number of classes.")
@click.option("--image-size", default=32, show_default=True, help="Input height and width.")
@click.option("--in-channels", default=3, show_default=True, help="Input channels.")
@click.option("--batch", default=1, show_default=True, help="Batch size the op costs are computed for.")
@click.option("--block-plugin", "block_plugins", multiple=True, metavar="NAME", help="Do not load this plugin.")
@click.option("--cost-option", "cost_option_items", multiple=True, metavar="KEY=VALUE",
              help="Option for a cost provider (repeatable).")
def cost_command(source: str, names: tuple[str, ...], channels: int, layers: int, classes: int, image_size: int,
                 in_channels: int, batch: int, block_plugins: tuple[str, ...],
                 cost_option_items: tuple[str, ...]) -> None:
    """The cost of SOURCE (preset, genotype file or run directory) under every provider.

    Costs are summed over the ops of the evaluation network built from the genotype; the
    parameter count is also taken from the built torch model as a cross-check.
    """
    genotype = load_genotype(source)
    providers = discover_providers(block=block_plugins, options=_pairs(cost_option_items))
    for failure in providers.failures:
        click.echo(f"warning: {failure.message()}", err=True)
    selected = providers.select(names or sorted(providers.by_name))
    target = TargetNetwork(channels, layers, classes, in_channels, (image_size, image_size), batch)
    costs = genotype_costs(genotype, selected, target, CostEvaluator())
    click.echo(f"{source}: evaluation network C={channels}, {layers} cells, {classes} classes, "
               f"{in_channels}x{image_size}x{image_size} input, batch {batch}")
    for provider in selected:
        click.echo(f"  {provider.name:16s} {format_cost(costs[provider.name]):>16} {provider.unit}")
    model = EvalNetwork(genotype, channels, classes, layers, auxiliary=False, in_channels=in_channels,
                        image_size=(image_size, image_size))
    counted = count_parameters(model).without_auxiliary
    check = ""
    if "params" in costs:
        check = " (matches)" if int(costs["params"]) == counted else f" (DIFFERS from params: {costs['params']:,.0f})"
    click.echo(f"  {'torch model':16s} {counted:>16,} parameters counted from the built model{check}")
