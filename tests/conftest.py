"""Shared fixtures: small configs and one tiny search reused by several tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rapdarts.api import search
from rapdarts.search.config import SearchConfig, profile_config
from rapdarts.search.loop import SearchResult

CIFAR_SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset"


TEST_THREADS = 2
"""Every search in the tests runs on this many threads: float sums, and so the alphas, depend on it."""


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(TEST_THREADS)
    yield


@pytest.fixture(autouse=True, scope="session")
def _private_cost_cache(tmp_path_factory: pytest.TempPathFactory):
    """Cost caches of the tests live in a temporary directory, never in the user's home."""
    import os

    previous = os.environ.get("RAPDARTS_CACHE_DIR")
    os.environ["RAPDARTS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cost-cache"))
    yield
    if previous is None:
        os.environ.pop("RAPDARTS_CACHE_DIR", None)
    else:
        os.environ["RAPDARTS_CACHE_DIR"] = previous


@pytest.fixture
def tiny_config() -> SearchConfig:
    """The ``tiny`` profile on the embedded digits dataset, on the CPU."""
    return profile_config("tiny").updated({"device": "cpu"})


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory: pytest.TempPathFactory) -> SearchResult:
    """One finished tiny search (about 20 s), shared by the tests that only read its outputs."""
    config = profile_config("tiny").updated({"device": "cpu"})
    torch.set_num_threads(TEST_THREADS)  # session fixtures run before the per-test one above
    return search(config, run_dir=tmp_path_factory.mktemp("tiny-search"), show_progress=False)


@pytest.fixture(scope="session")
def cifar_subset() -> Path:
    if not (CIFAR_SUBSET / "train").is_dir():
        pytest.skip(f"CIFAR-10 subset not found at {CIFAR_SUBSET}")
    return CIFAR_SUBSET


TINY_TRAIN = ["--profile", "tiny", "--device", "cpu", "--threads", "1", "--no-progress", "--report-costs",
              "params,flops"]
"""Options of the tiny training run (PDARTS, digits, C=4, 5 cells, 3 epochs) shared by the train tests.

One thread: as fast as two for a network this small, and immune to OpenMP stalls on a busy machine."""


@pytest.fixture(scope="session")
def tiny_training(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of one tiny ``rapdarts train PDARTS`` through the CLI (about 10 s)."""
    from rapdarts.cli import main

    run = tmp_path_factory.mktemp("tiny-training") / "run"
    assert main(["train", "PDARTS", *TINY_TRAIN, "--run-dir", str(run)]) == 0
    return run
