"""Shared fixtures: small configs and one tiny search reused by several tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rapdarts.api import search
from rapdarts.search.config import SearchConfig, profile_config
from rapdarts.search.progressive import SearchResult

SLOW_FIXTURES = {"tiny_search", "tiny_training", "budget_search", "two_rank_search", "table_path"}
"""Shared fixtures that run a real search, training or profile: every test using one is in the slow tier."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two tiers (as timm's tests have): ``-m "not slow"`` for a quick loop while developing, everything in CI."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


TEST_THREADS = 2
"""Every search in the tests runs on this many threads: float sums, and so the alphas, depend on it."""


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(TEST_THREADS)
    yield


@pytest.fixture(autouse=True, scope="session")
def _private_cost_cache(tmp_path_factory: pytest.TempPathFactory):
    """Cost caches and the table catalogue of the tests live in temporary directories, never in the user's home."""
    import os

    private = {"RAPDARTS_CACHE_DIR": str(tmp_path_factory.mktemp("cost-cache")),
               "RAPDARTS_TABLES_DIR": str(tmp_path_factory.mktemp("table-catalogue"))}
    previous = {name: os.environ.get(name) for name in private}
    os.environ.update(private)
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


def write_image_folder(root: Path, per_class: int = 8, classes: int = 3, size: int = 32) -> Path:
    """A small ImageFolder tree (``root/train/CLASS/*.png``, ``root/test/...``) of real images: scikit-learn's
    handwritten digits, upscaled to ``size`` pixels and coloured, so no test depends on files outside the clone."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for split, offset in (("train", 0), ("test", per_class)):
        for label in range(classes):
            folder = root / split / f"digit{label}"
            folder.mkdir(parents=True, exist_ok=True)
            images = digits.images[digits.target == label][offset:offset + per_class]
            for index, image in enumerate(images):
                grey = np.kron(image / 16.0, np.ones((size // 8, size // 8)))
                rgb = np.stack([grey, grey[::-1], 1 - grey], axis=-1)
                Image.fromarray((255 * rgb).astype(np.uint8)).save(folder / f"{index}.png")
    return root


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ImageFolder dataset of 3 classes, 8 training and 8 test images each, 32x32 RGB."""
    return write_image_folder(tmp_path_factory.mktemp("image-folder"))


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
