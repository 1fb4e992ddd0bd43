"""``rapdarts costs`` (list providers) and ``rapdarts cost`` (price an architecture)."""

from __future__ import annotations

import click

from ..costs import CostEvaluator, genotype_costs
from ..costs.plugins import discover_providers
from ..genotype import load_genotype
from ..network import EvalNetwork, count_parameters
from .search_command import _pairs
from .target_options import target_from, target_options


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
@click.option("--measure", is_flag=True, help="Also export the whole network to ONNX and time it with the latency "
              "table's settings, next to the predicted latency.")
@click.option("--block-plugin", "block_plugins", multiple=True, metavar="NAME", help="Do not load this plugin.")
@click.option("--cost-option", "cost_option_items", multiple=True, metavar="KEY=VALUE",
              help="Option for a cost provider, e.g. latency.table=FILE (repeatable).")
@target_options
def cost_command(source: str, names: tuple[str, ...], measure: bool, block_plugins: tuple[str, ...],
                 cost_option_items: tuple[str, ...], **options) -> None:
    """The cost of SOURCE (preset, genotype file or run directory) under every provider.

    Costs are summed over the ops of the evaluation network built from the genotype; the
    parameter count is also taken from the built torch model as a cross-check.
    """
    genotype = load_genotype(source)
    target = target_from(options)
    cost_options = _pairs(cost_option_items)
    providers = discover_providers(block=block_plugins, options=cost_options)
    for failure in providers.failures:
        click.echo(f"warning: {failure.message()}", err=True)
    default = [n for n in sorted(providers.by_name) if n != "surrogate" or "surrogate.model" in cost_options]
    selected = providers.select(names or default)
    costs = genotype_costs(genotype, selected, target, CostEvaluator())
    click.echo(f"{source}: evaluation network C={target.C}, {target.layers} cells, {target.num_classes} classes, "
               f"{target.in_channels}x{target.image_size[0]}x{target.image_size[1]} input, batch {target.batch}")
    for provider in selected:
        click.echo(f"  {provider.name:16s} {format_cost(costs[provider.name]):>16} {provider.unit}")
    model = EvalNetwork(genotype, target.C, target.num_classes, target.layers, auxiliary=False,
                        in_channels=target.in_channels, image_size=target.image_size)
    counted = count_parameters(model).without_auxiliary
    check = ""
    if "params" in costs:
        check = " (matches)" if int(costs["params"]) == counted else f" (DIFFERS from params: {costs['params']:,.0f})"
    click.echo(f"  {'torch model':16s} {counted:>16,} parameters counted from the built model{check}")
    if measure:
        _measure(genotype, target, cost_options, costs.get("latency"))


def _measure(genotype, target, cost_options: dict[str, str], predicted: float | None) -> None:
    from cost_plugins.latency import LatencyLookup

    from ..latency.validate import measure_network

    table = LatencyLookup(cost_options).table()
    measured = measure_network(genotype, target, table)
    line = f"  {'measured':16s} {measured:>16.4f} ms whole network, ONNX Runtime {table.header['provider']}, " \
           f"{table.header['intra_threads']} thread(s), optimisation {table.header['optimization']}"
    if predicted is not None:
        line += f"; predicted {predicted:.4f} ms ({(predicted - measured) / measured:+.1%})"
    click.echo(line)
