"""``rapdarts surrogate profile|export|fit|evaluate``: a latency predictor for this device (or another one)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from rapdarts.cli.options import output_directory, output_file
from rapdarts.cli.target_options import target_from, target_options, timing_from, timing_options
from rapdarts.errors import Interrupted, RapdartsError
from rapdarts.latency.surrogate_design import DesignRanges
from rapdarts.latency.surrogate_models import AUTO, KINDS
from rapdarts.latency.surrogate_networks import DEFAULT_VARIED
from rapdarts.latency.surrogate_sample import DEFAULT_MINUTES, SAMPLE_SESSIONS
from rapdarts.runtime.progress import logs_above_bars

log = logging.getLogger("rapdarts")
DEFAULTS = DesignRanges()


def _span(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give MIN:MAX, two whole numbers") from None
    if not 1 <= low <= high:
        raise click.BadParameter(f"{value!r}: need 1 <= MIN <= MAX")
    return low, high


design_options = [
    click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
                 help="Seed of the design (its Sobol sequences) and of the calibration genotypes."),
    click.option("--channels", default=f"{DEFAULTS.channels[0]}:{DEFAULTS.channels[1]}", show_default=True,
                 callback=_span, metavar="MIN:MAX", help="Cell channel counts C sampled (log-uniform); the fixed "
                 "parts of a network take theirs from C (a stem 3C, a concatenation up to 4C)."),
    click.option("--resolution", default=f"{DEFAULTS.resolution[0]}:{DEFAULTS.resolution[1]}", show_default=True,
                 callback=_span, metavar="MIN:MAX", help="Input resolutions sampled (log-uniform, odd ones included)."),
    click.option("--batches", default=f"{DEFAULTS.batch[0]}:{DEFAULTS.batch[1]}", show_default=True,
                 callback=_span, metavar="MIN:MAX", help="Batch sizes sampled (log-uniform)."),
    click.option("--max-elements", default=DEFAULTS.max_elements, show_default=True, type=click.IntRange(min=1),
                 help="Leave out configurations whose largest activation (batch x channels x pixels) is larger."),
    click.option("--progress/--no-progress", default=True),
]


def with_design(function: Any) -> Any:
    for option in reversed(design_options):
        function = option(function)
    return function


def ranges_from(options: dict[str, Any]) -> DesignRanges:
    return DesignRanges(options.pop("channels"), options.pop("resolution"), options.pop("batches"),
                        options.pop("max_elements"))


@click.group("surrogate")
def surrogate_group() -> None:
    """A latency predictor for one device: profile a designed sample, fit, evaluate on shapes never sampled."""


@surrogate_group.command("profile", context_settings={"default_map": {"sessions": SAMPLE_SESSIONS}})
@click.option("--out", required=True, metavar="SAMPLE", callback=output_file,
              help="Sample file to write (continued if it exists).")
@click.option("--minutes", default=DEFAULT_MINUTES, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Time budget of the whole sample (rerunning with more extends it).")
@click.option("--networks", default=DEFAULT_VARIED, show_default=True, type=click.IntRange(min=0),
              help="Random genotypes timed whole per calibration shape (C=16 and 36, batch 1 and 4), besides the "
              "single-op networks; 0: none, an uncalibrated surrogate.")
@with_design
@timing_options
def surrogate_profile(out: str, minutes: float, networks: int, progress: bool, **options: Any) -> None:
    """Time a designed sample of op configurations on this machine, within a time budget.

    Op type x channels x resolution x stride x batch, space-filling first (Sobol), then adaptive
    rounds next to the configurations predicted worst; whole calibration networks in the same
    interleaved rounds. Resumable: rerun the same command. Then: rapdarts surrogate fit SAMPLE.
    """
    from rapdarts.latency.surrogate_sample import profile_sample

    seed, ranges, settings = options.pop("seed"), ranges_from(options), timing_from(options)
    log.info("surrogate profile: %.0f min budget, %s thread(s), optimisation %s, %d session(s) per configuration",
             minutes, settings.intra_threads, settings.optimization, settings.sessions)
    try:
        with logs_above_bars():
            summary = profile_sample(out, settings, minutes, seed, ranges, networks, progress)
    except KeyboardInterrupt:
        raise Interrupted(f"the same 'rapdarts surrogate profile --out {out}' command (the rounds timed so far are "
                          "kept)") from None
    cv = summary["powerlaw_cv"]
    click.echo(f"surrogate sample: {summary['path']} ({summary['samples']} configurations of {summary['op_types']} op "
               f"types, {summary['networks']}/{summary['networks_planned']} calibration networks, "
               f"{summary['minutes']:.1f} of {summary['budget_minutes']:.0f} min, stopped: {summary['stopped']}, "
               f"{summary['adaptive_rounds']} adaptive rounds)")
    if cv:
        click.echo(f"  power law, cross-validated on the sample: {cv['within_10pct']:.0%} within 10%, "
                   f"{cv['within_5pct']:.0%} within 5%")
    drift = summary["reference"]
    if drift:
        click.echo(f"  reference network {drift['network']}: {drift['latency_ms']:.3f} ms; its {drift['chunks']} "
                   f"chunks ran {drift['fastest_chunk']:.2f}x to {drift['slowest_chunk']:.2f}x that (the machine's "
                   "drift while profiling)")
    click.echo(f"next: rapdarts surrogate fit {summary['path']} --out MODEL.json")


@surrogate_group.command("export")
@click.argument("directory", callback=output_directory)
@click.option("--samples", default=1000, show_default=True, type=click.IntRange(min=5),
              help="Configurations of the design to export (the device times every one).")
@with_design
def surrogate_export(directory: str, samples: int, seed: int, progress: bool, **options: Any) -> None:
    """Export the designed sample for a device without torch (the export-ops profiler times it there).

    On the device: python DIRECTORY/profile_ops.py DIRECTORY; then, here: rapdarts surrogate fit
    DIRECTORY/latency_table.json. No whole networks are exported: that surrogate is uncalibrated.
    """
    from rapdarts.latency.surrogate_export import export_sample

    path = Path(directory)
    if path.exists() and any(path.iterdir()):
        raise RapdartsError(f"{path} is not empty; export into a new directory")
    count = export_sample(path, samples, seed, ranges_from(options), progress)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    click.echo(f"exported {count} op configurations ({size:.0f} MB) to {path}; on the device run: python "
               f"{path}/profile_ops.py {path}; then: rapdarts surrogate fit {path}/latency_table.json --out MODEL.json")


@surrogate_group.command("fit")
@click.argument("samples", nargs=-1, required=True, metavar="SAMPLE...")
@click.option("--out", required=True, metavar="MODEL", callback=output_file, help="Model file to write (JSON).")
@click.option("--kind", type=click.Choice((AUTO, *KINDS)), default=AUTO, show_default=True,
              help="auto: per op type, the kind K-fold cross-validation prefers.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2), help="Cross-validation folds.")
@click.option("--holdout", default=0.0, type=click.FloatRange(0, 1, max_open=True), show_default=True,
              help="Also hold out this share of entries and report the error of a model fitted without them "
              "(the saved model is fitted on all entries).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
def surrogate_fit(samples: tuple[str, ...], out: str, kind: str, folds: int, holdout: float, seed: int) -> None:
    """Fit the surrogate on SAMPLE files (surrogate samples or latency tables of one device and settings).

    Prints the cross-validated error of every model kind per op type, the choice, and the calibration on
    the whole networks the profile timed.
    """
    from rapdarts.latency.surrogate import LatencySurrogate, evaluate, holdout_split
    from rapdarts.latency.table import LatencyTable

    tables = [LatencyTable.load(path) for path in samples]
    if holdout > 0:
        keys = [key for table in tables for key in table.entries]
        train, held = holdout_split(keys, holdout, seed)
        merged = LatencyTable(tables[0].path, tables[0].header, {k: e for t in tables for k, e in t.entries.items()})
        report = evaluate(LatencySurrogate.fit(tables, kind, train, folds, seed), merged, held)
        _print_errors(f"held-out error ({len(held)} of {len(keys)} ops)", report)
    surrogate = LatencySurrogate.fit(tables, kind, folds=folds, seed=seed)
    _print_selection(surrogate.selection)
    _print_sample_floor(tables)
    click.echo(f"  {_describe_context(surrogate)}")
    click.echo(f"  {_describe_calibration(surrogate.calibration)}")
    surrogate.save(out)
    click.echo(f"surrogate: {out} ({surrogate.describe()})")


@surrogate_group.command("evaluate")
@click.argument("model")
@click.option("--table", "tables", multiple=True, metavar="TABLE", help="Tables or samples of measured ops of the "
              "same device and settings (shapes the model never saw: other widths, resolutions, batch sizes).")
@click.option("--networks", default=0, show_default=True, type=click.IntRange(min=0),
              help="Also time this many fresh random genotypes whole at the network shape options and compare.")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(min=0),
              help="Seed of the random genotypes (the profile's calibration networks are skipped).")
@click.option("--json", "json_out", metavar="FILE", callback=output_file, help="Also write the report as JSON.")
@target_options
def surrogate_evaluate(model: str, tables: tuple[str, ...], networks: int, seed: int, json_out: str | None,
                       **options: Any) -> None:
    """How close MODEL is to measurements: shares within ±5% and ±10% per op type and for whole networks."""
    from rapdarts.latency.surrogate import LatencySurrogate, evaluate, save_report
    from rapdarts.latency.surrogate_networks import judge_networks
    from rapdarts.latency.table import LatencyTable

    if not tables and not networks:
        raise RapdartsError("give --table TABLE (measured ops) and/or --networks N (whole networks to time)")
    surrogate = LatencySurrogate.load(model)
    target = target_from(options)
    report: dict[str, Any] = {"model": model, "ops": {}, "networks": None}
    for path in tables:
        result = evaluate(surrogate, LatencyTable.load(path))
        report["ops"][path] = result
        _print_errors(f"{path}: {result['unseen']} of {result['overall']['n']} ops not in the sample "
                      f"({result['outside_sample']} outside its range)", result)
    if networks:
        with logs_above_bars():
            judged = judge_networks(surrogate, target, networks, seed)
        report["networks"] = judged
        click.echo(f"{networks} fresh networks, {target.describe()}:")
        reference = judged["reference"]
        if reference["drift"] is not None:
            click.echo(f"  reference network now {reference['now_ms']:.3f} ms, {reference['drift']:.2f}x its "
                       f"{reference['profile_ms']:.3f} ms while profiling (the machine's drift since; 'drift "
                       "corrected' is the prediction times that)")
            if reference["profile_range"] is not None:
                low, high = reference["profile_range"]
                verdict = ("outside: the machine changed since the profile; read 'drift corrected'"
                           if reference["beyond_profile_range"] else
                           "inside: no sign the machine changed; the errors are the surrogate's")
                click.echo(f"  its chunks ran {low:.2f}x-{high:.2f}x while profiling; this drift is {verdict}")
        else:
            click.echo("  the sample has no reference network (profiled by an older rapdarts): machine drift since "
                       "the profile cannot be told apart from the surrogate's error")
        for label, key in (("calibrated", "agreement"), ("uncalibrated", "agreement_uncalibrated"),
                           ("ops alone", "agreement_alone"), ("drift corrected", "agreement_drift_corrected")):
            stats = judged[key]
            if stats is None:
                continue
            click.echo(f"  {label:15s} within 5% {stats['within_5pct']:4.0%}  within 10% {stats['within_10pct']:4.0%}"
                       f"  mean error {stats['mean_error']:+.1%}  mean |error| {stats['mean_abs_error']:.1%}")
    if json_out:
        save_report(json_out, report)


def _print_errors(title: str, report: dict) -> None:
    click.echo(title)
    click.echo(f"  {'op':18s} {'n':>4s} {'RMSE ms':>9s} {'MAPE':>7s} {'within 5%':>9s} {'within 10%':>10s}")
    for op, stats in [*report["by_op"].items(), ("overall", report["overall"])]:
        click.echo(f"  {op:18s} {stats['n']:>4d} {stats['rmse_ms']:>9.4f} {stats['mape']:>7.1%} "
                   f"{stats['within_5pct']:>9.0%} {stats['within_10pct']:>10.0%}")
    floor = (report.get("measurement_floor") or {}).get("overall") or {}
    if floor.get("n"):
        click.echo(f"  the timings themselves: two halves of each op's sessions agree within 10% for "
                   f"{floor['halves_within_10pct']:.0%} (median difference {floor['median_split_difference']:.1%}), so "
                   f"a model exact on this machine would put about {floor['ceiling_within_10pct']:.0%} within 10% and "
                   f"{floor['ceiling_within_5pct']:.0%} within 5% of them")
    steady = report.get("steady")
    if steady:
        click.echo(f"  on the {steady['overall']['n']} steadily timed ops (halves within 5%): "
                   f"{steady['overall']['within_10pct']:.0%} within 10%, {steady['overall']['within_5pct']:.0%} "
                   f"within 5%")


def _print_sample_floor(tables: list) -> None:
    """How well the sample's own timings agree with themselves: a noisy sample caps what any model can learn."""
    from rapdarts.latency.surrogate_floor import floor_stats, split_differences

    floor = floor_stats(split_differences([entry for table in tables for entry in table.entries.values()]))
    if floor["n"]:
        click.echo(f"  the sample's timings: two halves of each op's sessions agree within 10% for "
                   f"{floor['halves_within_10pct']:.0%}, within 5% for {floor['halves_within_5pct']:.0%} (median "
                   f"difference {floor['median_split_difference']:.1%}; a noisy sample caps what any model learns)")


def _print_selection(selection: dict) -> None:
    """The cross-validated error of each kind per op type (mean |log error|, share within 10%) and the choice."""
    cv = selection.get("cv") or {}
    if not cv:
        click.echo(f"models: {selection.get('overall_kind')} for every op type (no cross-validation)")
        return
    kinds = list(selection["cv_overall"])
    click.echo(f"{selection['folds']}-fold cross-validation (mean |log error| / within 10%):")
    click.echo(f"  {'op':18s} {'n':>4s} " + " ".join(f"{kind:>15s}" for kind in kinds) + "  chosen")
    rows = [*((op, cv[op]) for op in sorted(cv)), ("overall", selection["cv_overall"])]
    for op, by_kind in rows:
        n = next(iter(by_kind.values()))["n"]
        cells = " ".join(f"{s['mean_abs_log_error']:>7.3f} / {s['within_10pct']:>4.0%}" for s in by_kind.values())
        chosen = selection["choice"].get(op, selection["overall_kind"])
        click.echo(f"  {op:18s} {n:>4d} {cells}  {chosen}")
    click.echo(f"models: {selection['mode']} (overall best: {selection['overall_kind']})")


def _describe_context(surrogate: Any) -> str:
    """How the surrogate prices an op inside a network: from chains the profile timed, or at its time alone."""
    if surrogate.context is None:
        return ("ops inside a network are priced at their time alone (the sample has no chains: profiled by an "
                "older rapdarts, or a plain table)")
    summary = surrogate.context.summary()
    ratios = ", ".join(f"{op} {ratio:.2f}" for op, ratio in summary["median_ratio"].items())
    check = (surrogate.context_fit or {}).get("check")
    weight = (f"the calibration networks save {surrogate.context_weight:.0%} of the boundary cost the chains "
              f"measured (fitted {check['fitted_weight']:.2f}, the smallest over calibration shapes of "
              f"{_weights_text(check)}; kept only when it prices the held-out networks better "
              "than the ops alone and no shape left out of the fit worse)") if check \
        else "no whole networks were timed, so ops are priced at their time alone"
    return (f"ops inside a network: {summary['chains']} chains of {summary['chain_length']} timed with the sample; "
            f"median share of an op's time alone it keeps between neighbours: {ratios}; {weight}")


def _weights_text(check: dict) -> str:
    weights = check.get("weights_by_shape") or {}
    return ", ".join(f"{label} {weight:.2f}" for label, weight in weights.items()) or "one pooled fit"


def _describe_calibration(fitted: dict | None) -> str:
    if not fitted:
        return "uncalibrated: no whole networks were timed with the sample (sums of ops timed alone)"
    held, plain = fitted["held_out"], fitted["held_out_uncalibrated"]
    if not fitted.get("applied", True):
        return (f"calibration not applied: the scales fitted on {fitted['fitted_on']} whole networks put "
                f"{held['within_10pct']:.0%} of {held['n']} held-out networks within 10% (mean |error| "
                f"{held['mean_abs_error']:.1%}), the sums of ops {plain['within_10pct']:.0%} (mean |error| "
                f"{plain['mean_abs_error']:.1%}); networks are priced as sums of ops" + _unseen_shape(fitted))
    return (f"calibrated on {fitted['fitted_on']} whole networks; on {held['n']} held-out networks "
            f"{held['within_5pct']:.0%} within 5%, {held['within_10pct']:.0%} within 10%, mean |error| "
            f"{held['mean_abs_error']:.1%} (uncalibrated: {plain['within_10pct']:.0%} within 10%, mean error "
            f"{plain['mean_error']:+.1%})" + _unseen_shape(fitted))


def _unseen_shape(fitted: dict) -> str:
    """The leave-one-shape-out figures: what to expect of whole networks at a width or batch nobody profiled."""
    unseen = fitted.get("unseen_shape")
    if not unseen:
        return ""
    calibrated, plain = unseen["agreement"], unseen["uncalibrated"]
    shapes = ", ".join(f"{label} {error:+.0%}" for label, error in unseen["mean_error_by_shape"].items())
    return (f"; at a shape left out of the fit (each in turn: {shapes}) the scales put {calibrated['within_10pct']:.0%}"
            f" of {calibrated['n']} networks within 10% (mean |error| {calibrated['mean_abs_error']:.1%}), the sums "
            f"of ops {plain['within_10pct']:.0%} ({plain['mean_abs_error']:.1%}): expect errors of that size at "
            "shapes nobody profiled")
