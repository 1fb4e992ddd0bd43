"""``rapdarts profile``, ``export-ops`` and ``validate-latency``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import click

from rapdarts.cli.options import output_directory, output_file
from rapdarts.cli.target_options import target_from, target_options, timing_from, timing_options
from rapdarts.errors import RapdartsError
from rapdarts.latency.lookup import LatencyLookup
from rapdarts.latency.maker import DEFAULT_NETWORKS, calibration_genotypes, export_bundle, make_table, target_specs
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice import PRECISIONS, rounds_to_agree
from rapdarts.runtime.progress import logs_above_bars
from rapdarts.space.genotype import load_genotype

log = logging.getLogger("rapdarts")

networks_option = click.option(
    "--networks", default=DEFAULT_NETWORKS, show_default=True, type=click.IntRange(min=0),
    help="Random calibration networks timed whole besides the presets and one single-op network per op type "
    "(every third random one is held out to judge the calibration); 0 makes an uncalibrated table.")


def describe_calibration(table: LatencyTable) -> str:
    """One line on the table's calibration and how it did on held-out networks."""
    fitted = table.calibration
    if not fitted:
        return "uncalibrated (sums of ops timed alone)"
    held, plain = fitted["held_out"], fitted.get("held_out_uncalibrated", {})
    line = (f"calibrated on {fitted['fitted_on']} whole networks; on {held['n']} held-out networks "
            f"{held['within_5pct']:.0%} within 5%, {held['within_10pct']:.0%} within 10%, mean |error| "
            f"{held['mean_abs_error']:.1%}")
    if plain:
        line += f" (uncalibrated: {plain['within_10pct']:.0%} within 10%, mean error {plain['mean_error']:+.1%})"
    return line


precision_options = [
    click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
                 help="int8: every op and network quantized with ONNX Runtime's tooling (static, QDQ) before timing."),
    click.option("--calibration-images", metavar="SOURCE",
                 help="Real images int8 models are calibrated on: digits, cifar10[:DIR], cifar100[:DIR] or "
                 "imagefolder:DIR [default: the --dataset's images, when it names one]."),
]


def with_precision(function: Any) -> Any:
    for option in reversed(precision_options):
        function = option(function)
    return function


def calibration_of(precision: str, images: str | None, dataset: str | None) -> str | None:
    """The calibration images of an int8 table: as given, else the dataset the shape options named."""
    if precision != "int8":
        return None
    return images or dataset or None


@click.command("profile")
@click.option("--out", metavar="TABLE", callback=output_file,
              help="Latency table to write (completed if it exists); with --name only, the catalogue's file.")
@click.option("--name", metavar="NAME", help="Store the table in the per-user catalogue under NAME (a device: pi5, "
              "server-2t), for --cost latency@NAME; 'rapdarts tables' lists them.")
@networks_option
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the random calibration genotypes.")
@click.option("--progress/--no-progress", default=True)
@with_precision
@target_options
@timing_options
def profile_command(out: str | None, name: str | None, networks: int, seed: int, progress: bool, precision: str,
                    calibration_images: str | None, **options: Any) -> None:
    """Time every op the target network needs with ONNX Runtime on this machine, and calibrate on whole networks.

    All candidate ops in every cell at the shapes they see, plus the fixed parts; then the presets
    single-op networks and random genotypes are timed whole, a per-op-group correction is fitted on part of them and
    judged on the rest. Rerunning the command completes an interrupted table.
    """
    from rapdarts.latency import catalogue

    if out is None and name is None:
        raise RapdartsError("give --out TABLE, --name NAME (the catalogue), or both")
    dataset = options.get("dataset")
    target, settings = target_from(options), timing_from(options)
    settings = dataclasses.replace(settings, precision=precision)
    calibration = calibration_of(precision, calibration_images, dataset)
    destination = Path(out) if out else catalogue.path_of(name)
    if name:
        catalogue.check_name(name)
    log.info("profiling %d op specs and %d calibration networks (%s) with %s, %d thread(s), optimisation %s, %s",
             len(target_specs(target)), len(calibration_genotypes(networks, seed)), target.describe(),
             settings.provider, settings.intra_threads, settings.optimization, precision)
    with logs_above_bars():
        path = make_table(target, destination, settings, networks, seed, progress, calibration)
    if name and out:
        click.echo(f"stored in the catalogue as {name}: {catalogue.add(path, name, replace=True)}")
    table = LatencyTable.load(path)
    click.echo(f"latency table: {path} ({len(table.entries)} ops, per-call overhead "
               f"{table.header['overhead_ms']:.4f} ms, device {table.header['device']})")
    click.echo(f"  {describe_calibration(table)}")
    if table.header.get("noise_floor"):
        click.echo(f"  {describe_floor(table.header['noise_floor'])}")
    for note in table.header.get("warnings", []):
        click.echo(f"rapdarts profile: warning: {note}", err=True)


@click.command("export-ops")
@click.argument("directory", callback=output_directory)
@networks_option
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the random calibration genotypes.")
@click.option("--progress/--no-progress", default=True)
@with_precision
@target_options
def export_ops_command(directory: str, networks: int, seed: int, progress: bool, precision: str,
                       calibration_images: str | None, **options: Any) -> None:
    """Export the target network's op models and calibration networks for profiling on a device without torch.

    Copy DIRECTORY to the device and run 'python DIRECTORY/profile_ops.py DIRECTORY' there
    (needs only onnxruntime and numpy); bring back DIRECTORY/latency_table.json.
    """
    calibration = calibration_of(precision, calibration_images, options.get("dataset"))
    target = target_from(options)
    path = Path(directory)
    if path.exists() and any(path.iterdir()):
        raise RapdartsError(f"{path} is not empty; export into a new directory")
    export_bundle(target, path, networks, seed, progress, precision, calibration)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    click.echo(f"exported {len(target_specs(target))} op models and {len(calibration_genotypes(networks, seed))}"
               f" calibration networks ({size:.0f} MB) to {path}; on the device run: python {path}/profile_ops.py "
               f"{path}")


@click.command("validate-latency")
@click.option("--table", "table_path", required=True, help="Latency table measured on this machine.")
@click.option("--samples", default=20, type=click.IntRange(min=0), show_default=True,
              help="Random architectures to measure.")
@click.option("--genotype", "genotypes", multiple=True, metavar="SOURCE",
              help="Also measure these (presets, files, run dirs). The presets are not measured by default: a "
              "profile calibrates on them, so they would not test the table.")
@click.option("--calibrate", is_flag=True, help="Refit the table's calibration on part of these networks, store it "
              "in the table, and report held-out agreement before and after.")
@click.option("--out", metavar="DIR", default="latency-validation", callback=output_directory, show_default=True,
              help="Where validation.json and the plot go.")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(min=0),
              help="Seed of the random architectures (profile uses 0).")
@click.option("--progress/--no-progress", default=True)
@target_options
def validate_latency(table_path: str, samples: int, genotypes: tuple[str, ...], calibrate: bool, out: str, seed: int,
                     progress: bool, **options: Any) -> None:
    """Check the latency model against whole networks: predicted (the table's sum) vs measured."""
    from rapdarts.latency.plots import plot_validation
    from rapdarts.latency.validate import validate
    from rapdarts.storage.atomic import atomic_write_json

    target = target_from(options)
    lookup = LatencyLookup(Path(table_path))
    lookup.table().check_compatible(batch=target.batch)
    chosen = [(name, load_genotype(name)) for name in genotypes]
    with logs_above_bars():
        report = validate(lookup, target, chosen, samples, seed, calibrate)
    directory = Path(out)
    atomic_write_json(directory / "validation.json", report)
    plot_validation(report, directory / "latency_validation.png")
    click.echo(report["origin"])
    lines = [("calibrated table", report["agreement"]), ("sum of ops alone", report["agreement_uncalibrated"])]
    if calibrate:
        refit = report["refit"]
        lines += [("held out, before", refit["held_out_before"]), ("held out, refit", refit["held_out"])]
    for label, stats in lines:
        click.echo(f"{label:18s} {format_agreement(stats)}")
    click.echo(describe_floor(report["noise_floor"]))
    if calibrate:
        click.echo("calibration stored in the table: " + json.dumps(report["refit"]["scales"]))
    noisy = sum(row["noisy"] for row in report["rows"])
    if noisy:
        click.echo(f"rapdarts validate-latency: warning: {noisy} networks varied by more than "
                   f"{lookup.table().settings.noise_threshold:.0%} between sessions: the machine was busy", err=True)
    click.echo(f"report: {directory / 'validation.json'}; plot: {directory / 'latency_validation.png'}")


def describe_floor(floor: dict[str, Any]) -> str:
    """The noise floor next to a prediction error: how far independent timings of one network came out here."""
    return (f"noise floor: {len(floor['estimates_ms'])} independent estimates of {floor['network']} timed in the "
            f"same rounds varied by {floor['sd']:.1%} (sd), worst spread {floor['worst_spread']:.1%}: errors of that "
            f"size are the machine, not the table; {describe_rounds_needed(floor)}")


def describe_rounds_needed(floor: dict[str, Any]) -> str:
    """How long a user must time here for repeatable figures: the rounds for ±3% agreement 19 times in 20."""
    needed = rounds_to_agree(floor)
    if needed > MOST_ROUNDS_WORTH_ADVISING:
        return (f"two timings agree within ±3% 19 times in 20 only with more than {MOST_ROUNDS_WORTH_ADVISING} rounds "
                "here: this machine is too noisy for figures that fine")
    return f"two timings agree within ±3% 19 times in 20 with about {needed} rounds here (--sessions {needed})"


MOST_ROUNDS_WORTH_ADVISING = 1000
"""Beyond this many rounds (hours for a whole network) the advice is that the machine is too noisy."""


def format_agreement(stats: dict[str, Any]) -> str:
    nan = float("nan")
    return (f"n={stats['n']:3d}  within 5% {stats['within_5pct']:4.0%}  within 10% {stats['within_10pct']:4.0%}  "
            f"mean error {stats['mean_error']:+.1%}  mean |error| {stats['mean_abs_error']:.1%}  kendall tau "
            f"{stats.get('kendall_tau', nan):.3f}  spearman rho {stats.get('spearman_rho', nan):.3f}")
