"""``rapdarts train``: train a genotype's evaluation network, or resume an interrupted training run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from rapdarts.api import load_resumable_training, prepare_training
from rapdarts.cli.options import (
    config_options,
    given,
    layered_config,
    parse_cost_options,
    plugin_options,
    run_directory_options,
    run_resumably,
    settings_options,
)
from rapdarts.cli.search_command import PROFILE_NOTES
from rapdarts.cli.seed_options import backends_of, resume_seed_study, run_seed_study, seed_options
from rapdarts.errors import RapdartsError
from rapdarts.runtime import distributed
from rapdarts.settings import load_config_file
from rapdarts.space.genotype import load_genotype
from rapdarts.sweep.seeds import is_seed_study, train_seeds
from rapdarts.train.checkpoint import run_kind
from rapdarts.train.config import TRAIN_PROFILE_HELP, TRAIN_PROFILES, TrainConfig, train_profile_config
from rapdarts.train.report import format_report

log = logging.getLogger("rapdarts")

PROFILE_CHOICES = ("auto", *TRAIN_PROFILES)


def resolve_train_config(profile: str, config_file: str | None, options: dict[str, Any],
                         cost_options: dict[str, str] | None = None, block_plugins: tuple[str, ...] = ()
                         ) -> TrainConfig:
    """Profile defaults, then the config file, then command-line options."""
    return layered_config(profile, TRAIN_PROFILES, train_profile_config, config_file, options, [
        ("cost_options", "--cost-option", cost_options), ("block_plugins", "--block-plugin", block_plugins)])


def _dataset_of_run(source: str) -> dict[str, Any]:
    """The dataset settings of the search (or training) run SOURCE names, so its genotype trains on its data."""
    path = Path(source)
    if not path.is_dir() or not (path / "config.json").exists():
        return {}
    run_kind(path)  # a one-line error for a directory that is no rapdarts run
    settings = load_config_file(path / "config.json")
    chosen = {key: settings[key] for key in ("dataset", "data_dir", "image_size") if settings.get(key) is not None}
    if chosen:
        log.info("dataset %s from %s (--dataset overrides)", chosen.get("dataset"), path / "config.json")
    return chosen


@click.command("train")
@click.argument("source", required=False, metavar="GENOTYPE")
@settings_options(PROFILE_CHOICES, "Named settings: " + "; ".join(f"{k}: {v}" for k, v in TRAIN_PROFILE_HELP.items())
                  + "; auto: paper on CUDA, cpu otherwise.", "JSON or TOML settings (a run's config.json reruns it).")
@plugin_options("Option for a cost provider of the report, e.g. latency.table=table.json (repeatable).")
@run_directory_options("Continue the interrupted training in RUN_DIR (or seed study, see --seeds).")
@seed_options("trainings", "the mean ± standard deviation of the test error")
@config_options(TrainConfig, skip=("profile", "cost_options", "block_plugins"))
def train_command(source: str | None, profile: str, config_file: str | None, cost_option_items: tuple[str, ...],
                  block_plugins: tuple[str, ...], runs_dir: str, run_dir: str | None, resume_dir: str | None,
                  progress: bool, seeds: int | None, workers: int | None, backend: str, gpus_per_search: int,
                  ray_address: str | None, **settings: Any) -> None:
    """Train the evaluation network of GENOTYPE from scratch and report its test error, size and latency.

    GENOTYPE is a preset (DARTS_V1, DARTS_V2, PDARTS), a genotype JSON file, or a run directory
    (the genotype a search found). Defaults are the published DARTS/P-DARTS CIFAR-10 evaluation
    settings; --profile cpu and tiny scale the sizes down. Settings come from --profile, then
    --config, then the options below.
    """
    options = given(settings)
    backends = backends_of(workers, backend, ray_address, gpus_per_search)
    if resume_dir is not None:
        if source or options or config_file or run_dir or cost_option_items or block_plugins or seeds:
            raise RapdartsError("--resume continues with the run's saved settings; drop GENOTYPE and the other "
                                "options")
        if is_seed_study(resume_dir):
            resume_seed_study("train", resume_dir, backends)
            return
        trainer = load_resumable_training(resume_dir, show_progress=progress)
    else:
        if source is None:
            raise RapdartsError("name the genotype to train: a preset (e.g. PDARTS), a genotype file or a search run "
                                "directory; or --resume RUN_DIR")
        genotype = load_genotype(source)
        if not config_file and "dataset" not in options:
            options = {**_dataset_of_run(source), **options}
        config = resolve_train_config(profile, config_file, options, parse_cost_options(cost_option_items),
                                      block_plugins)
        if seeds:
            run_seed_study("train", lambda path: train_seeds(config, genotype, seeds, path, options=backends,
                                                              source=source), run_dir, runs_dir)
            return
        # Bad settings, data and report costs fail here, before the run directory exists.
        trainer = prepare_training(config, genotype, run_dir, runs_dir, source, show_progress=progress)
        log.info("training %s: profile %s (%s); dataset %s (%d training, %d test images); device %s", source,
                 config.profile, PROFILE_NOTES.get(config.profile, ""), config.dataset, len(trainer.train_data),
                 len(trainer.test_data), trainer.device)
        log.info("run directory %s", trainer.run_dir.path)
    result = run_resumably(trainer.run, "train", trainer.run_dir.path)
    if distributed.current().main:  # the other ranks of a data-parallel job stay silent
        click.echo(format_report(result.report))
        click.echo(f"Run directory: {result.run_dir}")
