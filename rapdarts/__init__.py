"""rapdarts: resource-aware progressive differentiable architecture search (RAPDARTS).

The public API is what ``__all__`` lists; everything else is an implementation detail.
"""

__version__ = "0.1.0"

from .config import PROFILES, SearchConfig, profile_config
from .derive import derive_genotype
from .errors import RapdartsError
from .genotype import Genotype, load_genotype, preset, preset_names
from .loss import LossTerm, SearchLoss
from .network import EvalNetwork, ParameterCount, count_parameters
from .ops import build_op, primitives, register_op
from .search import ProgressiveSearch, SearchExtension, SearchResult, load_resumable, resume, search
from .supernet import MixedOp, SearchNetwork
from .sweep import SweepOptions, load_sweep, plan_sweep, resume_sweep, start_sweep
from .train import TrainResult, Trainer, load_resumable_training, resume_training, train
from .train_config import TrainConfig, train_profile_config
from .trained import load_trained

__all__ = [
    "PROFILES", "SearchConfig", "profile_config",
    "derive_genotype",
    "RapdartsError",
    "Genotype", "load_genotype", "preset", "preset_names",
    "LossTerm", "SearchLoss",
    "EvalNetwork", "ParameterCount", "count_parameters",
    "build_op", "primitives", "register_op",
    "ProgressiveSearch", "SearchExtension", "SearchResult", "load_resumable", "resume", "search",
    "MixedOp", "SearchNetwork",
    "SweepOptions", "load_sweep", "plan_sweep", "resume_sweep", "start_sweep",
    "TrainResult", "Trainer", "load_resumable_training", "resume_training", "train",
    "TrainConfig", "train_profile_config",
    "load_trained",
]
