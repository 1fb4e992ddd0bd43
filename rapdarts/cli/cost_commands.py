"""``rapdarts costs`` (list providers) and ``rapdarts cost`` (price an architecture, and measure it)."""

from __future__ import annotations

import click

from rapdarts.cli.options import parse_cost_options, plugin_options
from rapdarts.cli.target_options import target_from, target_options
from rapdarts.costs.cache import CostCache
from rapdarts.costs.table import genotype_costs
from rapdarts.costs.target import TargetNetwork
from rapdarts.formatting import format_number
from rapdarts.plugins.instances import check_instance_options
from rapdarts.plugins.manager import Providers, discover_providers
from rapdarts.plugins.provider import CostProvider, of_quantity, report_order, target_notes
from rapdarts.space.genotype import Genotype, load_genotype
from rapdarts.space.network import count_parameters


def warn_failures(providers: Providers) -> None:
    for failure in providers.failures:
        click.echo(f"warning: {failure.message()} (block it with --block-plugin {failure.plugin})", err=True)


@click.command("costs")
@click.argument("instances", nargs=-1, metavar="[NAME@TARGET...]")
@plugin_options("Option for a cost provider or instance, e.g. latency@phone.table=phone.json (repeatable).")
def costs_command(instances: tuple[str, ...], cost_option_items: tuple[str, ...], block_plugins: tuple[str, ...]
                  ) -> None:
    """List every discovered cost provider with its unit and package, and the instances NAME@TARGET named here or
    in the options (each made with its own options); report broken plugins."""
    options = parse_cost_options(cost_option_items)
    providers = discover_providers(block=block_plugins, options=options)
    named = {*instances, *(key.split(".", 1)[0] for key in options if "@" in key.split(".", 1)[0])}
    for name in sorted(named):
        providers.get(name)
    rows = [(p.name, p.unit, p.package, p.description + (" (measured)" if p.measurer else ""))
            for p in sorted(providers.by_name.values(), key=lambda p: p.name)]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("cost", "unit", "package"))]
    click.echo(f"{'cost':{widths[0]}}  {'unit':{widths[1]}}  {'package':{widths[2]}}  description")
    for name, unit, package, description in rows:
        click.echo(f"{name:{widths[0]}}  {unit:{widths[1]}}  {package:{widths[2]}}  {description}")
    warn_failures(providers)


@click.command("cost")
@click.argument("source")
@click.option("--cost", "names", multiple=True, metavar="NAME",
              help="Only these costs (default: every provider whose options are given).")
@click.option("--measure", is_flag=True, help="Also measure the whole network with every cost that can measure "
              "networks (latency: exported to ONNX and timed with its table's settings), next to the prediction.")
@plugin_options("Option for a cost provider, e.g. latency.table=FILE (repeatable).")
@target_options
def cost_command(source: str, names: tuple[str, ...], measure: bool, cost_option_items: tuple[str, ...],
                 block_plugins: tuple[str, ...], **options) -> None:
    """The cost of SOURCE (preset, genotype file or run directory) under every provider.

    Costs are summed over the ops of the evaluation network built from the genotype; costs that
    count parameters are also checked against the parameters of the built torch model.
    """
    genotype = load_genotype(source)
    target = target_from(options)
    cost_options = parse_cost_options(cost_option_items)
    check_instance_options(cost_options, names)
    providers = discover_providers(block=block_plugins, options=cost_options)
    warn_failures(providers)
    default = [p.name for p in report_order(list(providers.by_name.values())) if not p.missing_options(cost_options)]
    selected = providers.select(names or default)
    for note in target_notes(selected, target):
        click.echo(f"warning: {note}", err=True)
    costs = genotype_costs(genotype, selected, target, CostCache())
    click.echo(f"{source}: {target.describe()}")
    for provider in selected:
        click.echo(f"  {provider.name:16s} {format_number(costs[provider.name]):>16} {provider.unit}")
    counted = count_parameters(target.build(genotype)).without_auxiliary
    checks = [(p.name, costs[p.name]) for p in of_quantity(selected, "parameters")]
    check = "".join(" (matches)" if int(value) == counted else f" (DIFFERS from {name}: {format_number(value)})"
                    for name, value in checks)
    click.echo(f"  {'torch model':16s} {counted:>16,} parameters counted from the built model{check}")
    if measure:
        _measure(genotype, target, [p for p in selected if p.measurer is not None], costs)


def _measure(genotype: Genotype, target: TargetNetwork, providers: list[CostProvider], costs: dict[str, float]) -> None:
    if not providers:
        click.echo("  (no selected cost can measure whole networks)")
    for provider in providers:
        assert provider.measurer is not None
        reason = provider.measurer.unavailable()
        if reason is not None:
            click.echo(f"  {provider.name:16s} not measured: {reason}")
            continue
        measured = provider.measurer.measure([("network", genotype)], target)["network"]
        predicted = costs[provider.name]
        click.echo(f"  {'measured ' + provider.name:16s} {format_number(measured.value, 6):>16} {provider.unit} whole "
                   f"network ({provider.measurer.where()}); predicted {format_number(predicted, 6)} "
                   f"({(predicted - measured.value) / measured.value:+.1%})")
        if measured.noisy:
            click.echo(f"warning: the {provider.name} measurements varied by {measured.spread:.0%}: the machine is "
                       "busy; measure again when it is quiet", err=True)
