"""The entry points of the library: a search or a training run with everything its config asks for.

A config names costs (fixed lambdas), budgets and the costs a training report prices; this module
turns those names into providers (entry-point plugins plus any in-process ``plugins``) and into the
search extensions that use them, then hands the layers below what they need, built whole. The
command line calls these functions too, so the CLI and the Python API cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from rapdarts.budget.penalty import BudgetPenalty
from rapdarts.costs.penalty import CostPenalty
from rapdarts.costs.target import Pricing
from rapdarts.plugins.extensions import SearchExtension
from rapdarts.plugins.instances import check_instance_options
from rapdarts.plugins.manager import Providers, discover_providers
from rapdarts.plugins.provider import CostProvider
from rapdarts.runtime import distributed
from rapdarts.runtime.resumable import StepCallback, shared_run_directory
from rapdarts.search.config import SearchConfig
from rapdarts.search.progressive import ProgressiveSearch, SearchResult
from rapdarts.space.genotype import Genotype
from rapdarts.train.config import TrainConfig
from rapdarts.train.loop import Trainer, TrainResult
from rapdarts.train.report import select_providers

log = logging.getLogger("rapdarts")


def providers_for(config: SearchConfig | TrainConfig, plugins: Iterable[object] = ()) -> Providers:
    """The cost providers a config can use: its blocked plugins left out, its provider options passed on.

    An option for an instance (``latency@phone.table``) that no cost, budget or report cost of the
    config uses is a one-line error: a typo there would otherwise be silently ignored.
    """
    used = [*getattr(config, "costs", {}), *getattr(config, "budgets", {}), *getattr(config, "report_costs", ())]
    check_instance_options(config.cost_options, used)
    providers = discover_providers(block=config.block_plugins, plugins=plugins, options=config.cost_options)
    for failure in providers.failures:
        log.warning("warning: %s (block it with --block-plugin %s)", failure.message(), failure.plugin)
    return providers


def search_extensions(config: SearchConfig, providers: Providers) -> list[SearchExtension]:
    """The penalties ``config`` asks for: budgets (with any fixed lambdas), fixed lambdas alone, or none.

    Unknown cost names, units that are not the provider's and conflicting settings fail here.
    """
    if config.budgets:
        return [BudgetPenalty(config, providers)]
    if config.costs:
        return [CostPenalty(config.costs, providers, Pricing.from_settings(config.to_dict()))]
    return []


def prepare_search(config: SearchConfig, run_dir: str | Path | None = None, runs_root: str | Path = "runs",
                   plugins: Iterable[object] = (), extensions: Sequence[SearchExtension] | None = None,
                   show_progress: bool = True, on_step: StepCallback | None = None) -> ProgressiveSearch:
    """A search ready to :meth:`~ProgressiveSearch.run`: settings, data and budgets checked, nothing written.

    ``run_dir`` must be new or empty; without it a fresh ``search-...`` directory under
    ``runs_root`` is named. ``extensions`` replace the ones the config asks for.
    """
    distributed.cluster(config.device)  # joins the job when started by torchrun; a single process otherwise
    if extensions is None:
        extensions = search_extensions(config, providers_for(config, plugins))
    directory = shared_run_directory(run_dir, runs_root, "search")
    return ProgressiveSearch(config, directory, extensions, show_progress, on_step)


def search(config: SearchConfig, run_dir: str | Path | None = None, runs_root: str | Path = "runs",
           plugins: Iterable[object] = (), extensions: Sequence[SearchExtension] | None = None,
           show_progress: bool = True, on_step: StepCallback | None = None) -> SearchResult:
    """Run a progressive search with the costs and budgets of ``config``; see :func:`prepare_search`."""
    return prepare_search(config, run_dir, runs_root, plugins, extensions, show_progress, on_step).run()


def load_resumable(run_dir: str | Path, plugins: Iterable[object] = (),
                   extensions: Sequence[SearchExtension] | None = None, show_progress: bool = True,
                   on_step: StepCallback | None = None) -> ProgressiveSearch:
    """The interrupted search in ``run_dir``, restored from its last checkpoint with its config's penalties
    (or ``extensions``, which must be the ones the search started with)."""
    def make_extensions(config: SearchConfig) -> Sequence[SearchExtension]:
        return search_extensions(config, providers_for(config, plugins)) if extensions is None else extensions

    return ProgressiveSearch.resumed(run_dir, make_extensions, show_progress, on_step)


def resume(run_dir: str | Path, plugins: Iterable[object] = (), extensions: Sequence[SearchExtension] | None = None,
           show_progress: bool = True, on_step: StepCallback | None = None) -> SearchResult:
    """Continue an interrupted search; a finished one just rewrites its outputs."""
    return load_resumable(run_dir, plugins, extensions, show_progress, on_step).run()


def report_providers(config: TrainConfig, plugins: Iterable[object] = ()) -> list[CostProvider]:
    """The providers a training report prices the network with (``report_costs``; empty: every one)."""
    return select_providers(config.report_costs, providers_for(config, plugins), config.cost_options)


def prepare_training(config: TrainConfig, genotype: Genotype, run_dir: str | Path | None = None,
                     runs_root: str | Path = "runs", genotype_source: str = "", plugins: Iterable[object] = (),
                     show_progress: bool = True, on_step: StepCallback | None = None) -> Trainer:
    """A training run ready to :meth:`~Trainer.run`: settings, data and report costs checked, nothing written."""
    distributed.cluster(config.device)  # joins the job when started by torchrun; a single process otherwise
    directory = shared_run_directory(run_dir, runs_root, "train")
    return Trainer(config, genotype, directory, report_providers(config, plugins), genotype_source, show_progress,
                   on_step)


def train(config: TrainConfig, genotype: Genotype, run_dir: str | Path | None = None, runs_root: str | Path = "runs",
          genotype_source: str = "", plugins: Iterable[object] = (), show_progress: bool = True,
          on_step: StepCallback | None = None) -> TrainResult:
    """Train ``genotype``; ``run_dir`` defaults to a new ``train-...`` directory under ``runs_root``."""
    return prepare_training(config, genotype, run_dir, runs_root, genotype_source, plugins, show_progress,
                            on_step).run()


def load_resumable_training(run_dir: str | Path, plugins: Iterable[object] = (), show_progress: bool = True,
                            on_step: StepCallback | None = None) -> Trainer:
    """The interrupted training run in ``run_dir``, restored from its last epoch-end checkpoint."""
    return Trainer.resumed(run_dir, lambda config: report_providers(config, plugins), show_progress, on_step)


def resume_training(run_dir: str | Path, plugins: Iterable[object] = (), show_progress: bool = True,
                    on_step: StepCallback | None = None) -> TrainResult:
    """Continue an interrupted training run; a finished one only rewrites its report and plots."""
    return load_resumable_training(run_dir, plugins, show_progress, on_step).run()
