"""rapdarts: resource-aware progressive differentiable architecture search (RAPDARTS).

The package follows the data path, one subpackage per stage, each importing only from the layers
below it (the order is enforced by import-linter; see ``[tool.importlinter]`` in ``pyproject.toml``)::

    cli          the command line: options -> configs -> the API below
    sweep        many searches with lambda drawn log-uniformly (the paper's procedure), local or on Ray
    api          search() / train() with everything a config asks for: providers, penalties, report costs
    train        training a genotype, its report (error, size, costs, latency), checkpoints, comparisons
    budget       budgets met in one search: dual ascent, derivation-aware cost, floor, repair
    latency      latency lookup tables: profiling, calibration, surrogate, validation
    costs | search   costs (op specs, plugins, tables, fixed-lambda penalty) | the P-DARTS search loop
    deploy       ONNX export checked against torch, ONNX Runtime timing (torch-free on devices)
    space        ops, cell layout, genotypes, the supernet and the evaluation network
    (base)       errors, settings, data, run directories, devices, seeds, schedules, evaluation, plots,
                 the plugin hookspecs and the search-extension protocol

The public API is what ``__all__`` lists; everything else is an implementation detail.
"""

from rapdarts.api import (
                          load_resumable,
                          load_resumable_training,
                          prepare_search,
                          prepare_training,
                          resume,
                          resume_training,
                          search,
                          search_extensions,
                          train,
)
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.extensions import LossTerm, SearchExtension
from rapdarts.search import (
                          PROFILES,
                          ProgressiveSearch,
                          SearchConfig,
                          SearchLoss,
                          SearchResult,
                          derive_genotype,
                          profile_config,
)
from rapdarts.space import (
                          EvalNetwork,
                          Genotype,
                          MixedOp,
                          ParameterCount,
                          SearchNetwork,
                          build_op,
                          count_parameters,
                          load_genotype,
                          preset,
                          preset_names,
                          primitives,
                          register_op,
)
from rapdarts.sweep import SweepOptions, load_sweep, plan_sweep, resume_sweep, start_sweep
from rapdarts.train import TrainConfig, TrainedWeights, Trainer, TrainResult, load_trained, train_profile_config
from rapdarts.version import __version__

__all__ = [
    "__version__",
    "load_resumable", "load_resumable_training", "prepare_search", "prepare_training", "resume", "resume_training",
    "search", "search_extensions", "train",
    "DataShape", "RapdartsError", "LossTerm", "SearchExtension",
    "PROFILES", "ProgressiveSearch", "SearchConfig", "SearchLoss", "SearchResult", "derive_genotype", "profile_config",
    "EvalNetwork", "Genotype", "MixedOp", "ParameterCount", "SearchNetwork", "build_op", "count_parameters",
    "load_genotype", "preset", "preset_names", "primitives", "register_op",
    "SweepOptions", "load_sweep", "plan_sweep", "resume_sweep", "start_sweep",
    "TrainConfig", "TrainedWeights", "Trainer", "TrainResult", "load_trained", "train_profile_config",
]
