"""``rapdarts costs`` (list providers) and ``rapdarts cost`` (price an architecture)."""

from __future__ import annotations

import click

from rapdarts.cli.options import parse_cost_options
from rapdarts.cli.target_options import target_from, target_options
from rapdarts.costs.evaluate import CostEvaluator
from rapdarts.costs.plugins import discover_providers
from rapdarts.costs.table import genotype_costs
from rapdarts.costs.target import TargetNetwork
from rapdarts.formatting import format_number
from rapdarts.space.genotype import Genotype, load_genotype
from rapdarts.space.network import count_parameters


@click.command("costs")
@click.option("--block-plugin", "block_plugins", multiple=True, metavar="NAME", help="Do not load this plugin.")
@click.option("--cost-option", "cost_option_items", multiple=True, metavar="KEY=VALUE",
              help="Option for a cost provider (repeatable).")
def costs_command(block_plugins: tuple[str, ...], cost_option_items: tuple[str, ...]) -> None:
    """List every discovered cost provider with its unit and package; report broken plugins."""
    providers = discover_providers(block=block_plugins, options=parse_cost_options(cost_option_items))
    rows = [(p.name, p.unit, p.package, p.description)
            for p in sorted(providers.by_name.values(), key=lambda p: p.name)]
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
    cost_options = parse_cost_options(cost_option_items)
    providers = discover_providers(block=block_plugins, options=cost_options)
    for failure in providers.failures:
        click.echo(f"warning: {failure.message()}", err=True)
    default = [n for n in sorted(providers.by_name) if n != "surrogate" or "surrogate.model" in cost_options]
    selected = providers.select(names or default)
    costs = genotype_costs(genotype, selected, target, CostEvaluator())
    click.echo(f"{source}: {target.describe()}")
    for provider in selected:
        click.echo(f"  {provider.name:16s} {format_number(costs[provider.name]):>16} {provider.unit}")
    counted = count_parameters(target.build(genotype)).without_auxiliary
    check = ""
    if "params" in costs:
        check = " (matches)" if int(costs["params"]) == counted else \
            f" (DIFFERS from params: {format_number(costs['params'])})"
    click.echo(f"  {'torch model':16s} {counted:>16,} parameters counted from the built model{check}")
    if measure:
        _measure(genotype, target, cost_options, costs.get("latency"))


def _measure(genotype: Genotype, target: TargetNetwork, cost_options: dict[str, str], predicted: float | None) -> None:
    from rapdarts.latency.drift import warn_if_drifted
    from rapdarts.latency.lookup import LatencyLookup
    from rapdarts.latency.measure import measure_genotype

    table = LatencyLookup(cost_options).table()
    table.check_timable()
    warn_if_drifted(table)
    timing = measure_genotype(genotype, target, table.settings)
    line = f"  {'measured':16s} {timing.median_ms:>16.4f} ms whole network ({table.describe_origin()})"
    if predicted is not None:
        line += f"; predicted {predicted:.4f} ms ({(predicted - timing.median_ms) / timing.median_ms:+.1%})"
    click.echo(line)
    if timing.noisy:
        click.echo(f"warning: the network's timings varied by {timing.spread:.0%} between sessions: the machine is "
                   "busy; measure again when it is quiet", err=True)
