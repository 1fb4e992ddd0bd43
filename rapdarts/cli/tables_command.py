"""``rapdarts tables``: the per-user catalogue of latency tables (``profile --name``), listed and added to."""

from __future__ import annotations

import click

from rapdarts.errors import RapdartsError


@click.group("tables", invoke_without_command=True)
@click.pass_context
def tables_group(context: click.Context) -> None:
    """List the catalogue's latency tables: name, device, precision, threads, provider, date, held-out accuracy.

    A table named NAME is the target of the cost instance latency@NAME.
    """
    if context.invoked_subcommand is not None:
        return
    from rapdarts.latency import catalogue

    rows = catalogue.entries()
    click.echo(f"latency tables in {catalogue.catalogue_dir()}:")
    if not rows:
        click.echo("  (none yet: 'rapdarts profile --name NAME' makes one, 'rapdarts tables add FILE --name NAME' "
                   "adds one made on a device)")
        return
    header = ("name", "device", "precision", "threads", "provider", "date", "held-out <=5%", "<=10%", "noise sd")
    body = []
    for row in rows:
        if "error" in row:
            body.append((row["name"], f"unreadable: {row['error']}", "", "", "", "", "", "", ""))
            continue
        body.append((row["name"], row["device"], row["precision"], str(row["threads"]),
                     row["provider"].replace("ExecutionProvider", ""), row["date"][:10],
                     _share(row["held_out_within_5pct"]), _share(row["held_out_within_10pct"]),
                     "-" if row["noise_floor_sd"] is None else f"{row['noise_floor_sd']:.1%}"))
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    for line in (header, *body):
        click.echo("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@tables_group.command("add")
@click.argument("table_file", metavar="FILE")
@click.option("--name", metavar="NAME", help="The name to file it under [default: the name profile_ops.py recorded, "
              "else the file's stem].")
@click.option("--replace", is_flag=True, help="Replace a table of the same name.")
def tables_add(table_file: str, name: str | None, replace: bool) -> None:
    """Add a latency table (made on a device with profile_ops.py, say) to the catalogue, checked first."""
    import json
    from pathlib import Path

    from rapdarts.latency import catalogue

    path = Path(table_file)
    if not path.is_file():
        raise RapdartsError(f"latency table {path} does not exist")
    if name is None:
        try:
            name = (json.loads(path.read_text()).get("header") or {}).get("name")
        except (ValueError, AttributeError):
            name = None
        name = name or path.stem
    stored = catalogue.add(path, catalogue.check_name(name), replace)
    click.echo(f"added {path} to the catalogue as {name}: {stored} (use it with --cost latency@{name})")
