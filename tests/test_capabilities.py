"""Built-in cost plugins have no privileges: what they can do, a plugin declares, and rapdarts never asks a name.

``BoardLatency`` stands for a third-party latency provider (a board reached over SSH, TensorRT):
installed only through the public hook, it prices ops and *measures* whole networks. It is used
in a measured latency budget and in the training report exactly like the built-in ``latency``.
A scan of the package then checks that no module tells the built-in providers apart by name.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from rapdarts.api import search, train
from rapdarts.costs.params import parameter_count
from rapdarts.plugins import CostProvider, hookimpl
from rapdarts.plugins.provider import Measurement
from rapdarts.search.config import profile_config
from rapdarts.space.genotype import preset
from rapdarts.train.config import train_profile_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SLOWDOWN = 1.1
"""The board runs every network 10% slower than the cost predicts."""


def _predicted_ms(genotype, target) -> float:
    return sum(parameter_count(spec) for spec in target.genotype_specs(genotype)) * 1e-6


class BoardMeasurer:
    def where(self) -> str:
        return "on the board, over SSH"

    def unavailable(self) -> None:
        return None

    def measure(self, networks, target):
        return {name: Measurement(SLOWDOWN * _predicted_ms(genotype, target), details={"board": "pi"})
                for name, genotype in networks}


class BoardLatency:
    """One millisecond per million parameters, predicted; measured by the board."""

    @hookimpl
    def rapdarts_cost_providers(self, options):
        return [CostProvider("board_latency", "ms", "latency on a board", lambda spec: parameter_count(spec) * 1e-6,
                             quantity="latency", measurer=BoardMeasurer())]


SMALL = {"device": "cpu", "threads": 1, "epochs": 2, "warmup_epochs": 1, "train_subset": 256, "cells": (1, 1, 1)}


@pytest.mark.slow
def test_a_measured_budget_of_a_third_party_latency_is_judged_on_its_measurement(tmp_path):
    config = profile_config("tiny").updated({**SMALL, "budgets": {"board_latency": "1.8ms"}})
    result = search(config, run_dir=tmp_path / "run", plugins=[BoardLatency()], show_progress=False)
    summary = json.loads((result.run_dir / "budgets.json").read_text())
    budget = summary["budgets"]["board_latency"]
    assert budget["judged_on"] == "measured" and budget["meets"] and budget["measured"] <= 1.8
    assert budget["measured"] == pytest.approx(SLOWDOWN * budget["final"])  # the board's figure, not the prediction
    assert "on the board, over SSH" in summary["timing"]
    assert summary["repair"]["attempts"], "the final network was measured"


@pytest.mark.slow
def test_a_third_party_latency_is_measured_in_the_training_report(tmp_path):
    config = train_profile_config("tiny").updated({
        "device": "cpu", "threads": 1, "epochs": 1, "train_subset": 64, "test_subset": 64, "onnx_latency": False,
        "report_costs": ("params", "board_latency")})
    result = train(config, preset("PDARTS"), run_dir=tmp_path / "run", plugins=[BoardLatency()], show_progress=False)
    measured = result.report["measured"]["board_latency"]
    assert measured["value"] == pytest.approx(SLOWDOWN * result.report["costs"]["board_latency"]["value"])
    assert measured["predicted"] == result.report["costs"]["board_latency"]["value"]
    assert measured["where"] == "on the board, over SSH" and measured["board"] == "pi"


def _builtin_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(project["project"]["entry-points"]["rapdarts"])


def _name_checks(path: Path, names: set[str]) -> list[str]:
    """Places where code tells a provider by its name: compares, indexes, ``.get`` or dict keys with a built-in
    provider's name, or an option key under one (``"latency.table"``)."""
    found = []
    tree = ast.parse(path.read_text())

    def named(node: ast.AST) -> bool:
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(named(item) for item in node.elts)
        return isinstance(node, ast.Constant) and node.value in names

    for node in ast.walk(tree):
        hit = (isinstance(node, ast.Compare) and any(named(n) for n in [node.left, *node.comparators])
               or isinstance(node, ast.Subscript) and named(node.slice)
               or isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
               and node.args and named(node.args[0])
               or isinstance(node, ast.Dict) and any(key is not None and named(key) for key in node.keys)
               or isinstance(node, ast.Constant) and isinstance(node.value, str)
               and any(node.value.startswith(f"{name}.") for name in names))
        if hit:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_module_of_rapdarts_names_a_built_in_provider():
    names = _builtin_names()
    assert names == {"params", "flops", "latency", "surrogate"}
    found = [place for path in sorted((REPO / "rapdarts").rglob("*.py")) for place in _name_checks(path, names)]
    assert found == []
