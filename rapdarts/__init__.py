"""rapdarts: resource-aware progressive differentiable architecture search (RAPDARTS).

The package follows the data path, one subpackage per stage, each importing only from the layers
below it (the order is enforced by import-linter; see ``[tool.importlinter]`` in ``pyproject.toml``)::

    cli          the command line: options -> configs -> the API below
    sweep        many searches with lambda drawn log-uniformly (the paper's procedure), local or on Ray;
                 the best genotypes under budget trained (selection), runs repeated over seeds
    api          search() / train() with everything a config asks for: providers, penalties, report costs
    train        training a genotype, its report (error, size, costs, measured costs), checkpoints, comparisons
    budget       budgets met in one search: dual ascent, derivation-aware cost, floor, repair, measured budgets
    latency      latency lookup tables: making, calibration, whole-network timing, surrogate, validation
    costs | search   op specs, cost tables, the cost cache, fixed lambdas | the P-DARTS search loop, derivation
    plugins      the extension API: hookspecs, CostProvider and its capabilities, the pluggy manager,
                 the search-extension protocol
    deploy       ONNX export checked against torch
    space        ops, cell layout, genotypes, the supernet and the evaluation network
    runtime      devices, data-parallel processes, seeds, schedules, the evaluation loop, progress,
                 what every resumable run shares
    storage | data | settings   run directories, atomic writes, locks, paths, caches, figures | datasets |
                 typed settings records
    (base)       errors, formatting, version, and ondevice: the torch-free ONNX Runtime timer and table
                 writer that export-ops copies to devices and everything above reuses

``rapdarts.hookspecs`` is :mod:`rapdarts.plugins.hookspecs` under the name plugin packages import.
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
from rapdarts.plugins.extensions import LossTerm, SearchExtension
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
from rapdarts.sweep import (
                          SweepOptions,
                          load_sweep,
                          plan_sweep,
                          resume_seeds,
                          resume_selection,
                          resume_sweep,
                          search_seeds,
                          start_selection,
                          start_sweep,
                          train_seeds,
)
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
    "start_selection", "resume_selection", "train_seeds", "search_seeds", "resume_seeds",
    "TrainConfig", "TrainedWeights", "Trainer", "TrainResult", "load_trained", "train_profile_config",
]
