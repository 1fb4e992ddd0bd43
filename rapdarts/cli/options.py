"""Command-line options generated from config dataclasses, so help and defaults live in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import click

from rapdarts.errors import Interrupted, RapdartsError
from rapdarts.runtime.device import resolve_device
from rapdarts.runtime.progress import logs_above_bars
from rapdarts.settings import load_config_file
from rapdarts.storage.paths import check_output

Config = TypeVar("Config")
T = TypeVar("T")


def output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: an output file that cannot be written is a one-line error before any work starts."""
    return None if value is None else str(check_output(value, _shown(param)))


def output_directory(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: an output directory that cannot be created is a one-line error before any work starts."""
    return None if value is None else str(check_output(value, _shown(param), directory=True))


def runs_root(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click callback for ``--runs-dir``/``--sweeps-dir``: checked now when given; the default is checked when a
    new directory is made under it (a ``--resume`` in a read-only working directory must not fail on it)."""
    if ctx.get_parameter_source(param.name) == click.core.ParameterSource.DEFAULT:
        return value
    return str(check_output(value, _shown(param), directory=True))


def _shown(param: click.Parameter) -> str:
    return param.opts[0] if param.opts[0].startswith("-") else (param.human_readable_name or "output").upper()


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def config_options(config_class: type, skip: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator adding one option per dataclass field (``None`` default: "not given").

    Help text is the field's ``help`` metadata, followed by its default and that default's source.
    Booleans become ``--x/--no-x`` flags; tuples take comma-separated values. A setting's former
    names (the config class's ``ALIASES``) stay accepted as option names.
    """
    defaults = config_class()
    former = {new: [old for old, target in getattr(config_class, "ALIASES", {}).items() if target == new]
              for new in getattr(config_class, "ALIASES", {}).values()}

    def decorate(function: Callable) -> Callable:
        for field in reversed(dataclasses.fields(config_class)):
            if field.name in skip:
                continue
            default = getattr(defaults, field.name)
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            source = field.metadata.get("source")
            help_text = f"{field.metadata.get('help', '')} [default: {shown}" + (f"; {source}" if source else "") + "]"
            names = [option_name(field.name), *(option_name(old) for old in former.get(field.name, ()))]
            if str(field.type) == "bool":
                decl = f"{names[0]}/--no-{field.name.replace('_', '-')}"
                function = click.option(decl, field.name, default=None, help=help_text)(function)
            else:
                function = click.option(*names, field.name, default=None, metavar="X", help=help_text)(function)
        return function

    return decorate


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The options the user actually passed (click gives ``None`` for the others)."""
    return {key: value for key, value in values.items() if value is not None}


def parse_pairs(items: Sequence[str], option: str, form: str, convert: Callable[[str], Any] = str) -> dict[str, Any]:
    """``("params=1e-7", "flops=2e-10")`` to ``{"params": ..., ...}``, each value through ``convert``.

    ``form`` shows the expected shape in the one-line error (``NAME=NUMBER, e.g. params=1e-7``).
    """
    parsed: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RapdartsError(f"{option} {item!r} must look like {form}")
        try:
            parsed[name.strip()] = convert(value)
        except ValueError:
            raise RapdartsError(f"{option} {item!r}: {value!r} is not a number") from None
    return parsed


def parse_costs(items: Sequence[str]) -> dict[str, float]:
    """``--cost NAME=LAMBDA`` options."""
    return parse_pairs(items, "--cost", "NAME=NUMBER, e.g. params=1e-7", float)


def parse_budgets(items: Sequence[str]) -> dict[str, str]:
    """``--budget NAME=VALUE`` options (values keep their units; the budget layer parses them)."""
    return parse_pairs(items, "--budget", "NAME=VALUE, e.g. params=3M")


def parse_cost_options(items: Sequence[str]) -> dict[str, str]:
    """``--cost-option KEY=VALUE`` options."""
    return parse_pairs(items, "--cost-option", "KEY=VALUE, e.g. latency.table=table.json")


def layered_config(profile: str, profiles: Collection[str], load_profile: Callable[[str], Config],
                   config_file: str | None, options: Mapping[str, Any],
                   merged: Sequence[tuple[str, str, Mapping[str, Any] | tuple[Any, ...] | None]] = ()) -> Config:
    """Profile defaults, then the config file, then command-line options, then repeatable options.

    ``profile="auto"`` takes the config file's profile, else ``paper`` on CUDA and ``cpu``
    otherwise. Each ``(field, option, extra)`` in ``merged`` adds a repeatable option's values to
    the field (dict entries or tuple items) instead of replacing it, so ``--cost flops=...`` keeps
    a config file's ``params`` lambda. Each layer is recorded as the source of what it set.
    """
    from_file = load_config_file(config_file) if config_file else {}
    if "profile" in from_file and (not isinstance(from_file["profile"], str) or from_file["profile"] not in profiles):
        raise RapdartsError(f"config file {config_file}: setting 'profile' = {from_file['profile']!r} is not a "
                            f"profile: it must be one of {', '.join(profiles)}")
    if profile == "auto" and from_file.get("profile") in profiles:
        profile = from_file["profile"]
    if profile == "auto":
        device = options.get("device") or from_file.get("device") or "auto"
        profile = "paper" if resolve_device(str(device)).type == "cuda" else "cpu"
    config = load_profile(profile)
    config = config.updated({k: v for k, v in from_file.items() if k != "profile"}, f"config file {config_file}")
    config = config.updated(options, "command line")
    for field, option, extra in merged:
        if extra:
            current = getattr(config, field)
            value = (*current, *extra) if isinstance(current, tuple) else {**current, **extra}
            config = config.updated({field: value}, option)
    return config.validate()


def _stacked(*decorators: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """One decorator applying ``decorators`` so the options appear in the order given."""
    def decorate(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return decorate


def settings_options(profile_choices: Sequence[str], profile_help: str,
                     config_help: str) -> Callable[[Callable], Callable]:
    """``--profile`` and ``--config``: where a command's settings start (search, train, sweep)."""
    return _stacked(
        click.option("--profile", type=click.Choice(profile_choices), default="auto", show_default=True,
                     help=profile_help),
        click.option("--config", "config_file", metavar="FILE", help=config_help))


def plugin_options(cost_option_help: str = "Option for a cost provider, e.g. latency.table=table.json (repeatable)."
                   ) -> Callable[[Callable], Callable]:
    """``--cost-option`` and ``--block-plugin``: what every command that loads cost plugins accepts."""
    return _stacked(
        click.option("--cost-option", "cost_option_items", multiple=True, metavar="KEY=VALUE", help=cost_option_help),
        click.option("--block-plugin", "block_plugins", multiple=True, metavar="NAME",
                     help="Do not load this plugin (entry-point name; repeatable)."))


def run_directory_options(resume_help: str) -> Callable[[Callable], Callable]:
    """``--runs-dir``, ``--run-dir``, ``--resume`` and ``--progress`` of the commands that write a run."""
    return _stacked(
        click.option("--runs-dir", default="runs", show_default=True, callback=runs_root,
                     help="Where new run directories are created."),
        click.option("--run-dir", metavar="DIR", callback=output_directory,
                     help="Exact (new or empty) directory for this run."),
        click.option("--resume", "resume_dir", metavar="RUN_DIR", help=resume_help),
        click.option("--progress/--no-progress", default=True, help="Show progress bars."))


def run_resumably(run: Callable[[], T], command: str, run_dir: Any) -> T:
    """``run()`` with log lines kept above the progress bars; Ctrl-C names the exact command that resumes it."""
    try:
        with logs_above_bars():
            return run()
    except KeyboardInterrupt:
        raise Interrupted(f"rapdarts {command} --resume {run_dir}") from None


def backend_options(what: str = "searches") -> Callable[[Callable], Callable]:
    """``--workers``, ``--backend``, ``--gpus-per-search`` and ``--ray-address``: how a command runs many jobs at once
    (sweep, select, and search/train with ``--seeds``), all through the sweep's backends."""
    return _stacked(
        click.option("--workers", type=click.IntRange(min=1),
                     help=f"{what.capitalize()} at once [default: local, one per GPU, else 1; ray, as many as the "
                     "cluster fits]; local processes, or Ray tasks with --backend ray."),
        click.option("--backend", type=click.Choice(("local", "ray")), default="local", show_default=True,
                     help="local: processes on this machine; ray: Ray tasks (pip install 'rapdarts[ray]')."),
        click.option("--gpus-per-search", "--gpus-per-run", "gpus_per_search", type=click.IntRange(min=1), default=1,
                     show_default=True, help="GPUs per job: with more than one, each is a data-parallel job over its "
                     "GPUs (torchrun inside the worker; on Ray, GPUs of one node)."),
        click.option("--ray-address", metavar="ADDRESS", help="Ray cluster to join (default: start a local instance)."))
