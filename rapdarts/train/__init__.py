"""Training a genotype's evaluation network from scratch (the DARTS/P-DARTS evaluation protocol), its
final report (test error, size, costs, measured latency), checkpoints, and comparing runs."""

from rapdarts.train.checkpoint import TrainedWeights, load_trained
from rapdarts.train.config import TRAIN_PROFILES, TrainConfig, train_profile_config
from rapdarts.train.loop import Trainer, TrainResult

__all__ = ["TrainedWeights", "load_trained", "TRAIN_PROFILES", "TrainConfig", "train_profile_config", "Trainer",
           "TrainResult"]
