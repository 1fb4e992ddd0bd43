"""Budget-targeted search: budget parsing, dual ascent, one search meeting a budget, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rapdarts.api import resume, search
from rapdarts.budget import BudgetPenalty, dual_step, parse_budget_value
from rapdarts.cli import main
from rapdarts.costs import TargetNetwork, genotype_costs
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.plugins.manager import discover_providers
from rapdarts.search.config import profile_config
from rapdarts.search.derive import derive_genotype
from rapdarts.space.genotype import Genotype
from rapdarts.space.layout import edge_sources
from rapdarts.space.ops import primitives

# Seconds-long: one cell per stage, 250 class-balanced images, 125 each for weights and alphas (3 steps of 32).
SMALL = {"device": "cpu", "threads": 1, "epochs": 2, "warmup_epochs": 1, "train_subset": 256, "cells": (1, 1, 1)}
BUDGET = 1.5e6  # parameters; the cheapest derivable network (digits, C=36, 20 cells) has 1,368,190
# A budget and a fixed-lambda cost together (lambda 0: measured and reported, no pressure).
WITH_BUDGET = {**SMALL, "budgets": {"params": "1.5M"}, "costs": {"flops": 0.0}}
DIGITS = DataShape(10, 1, (8, 8))
EDGES = len(edge_sources())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def budget_search(tmp_path_factory):
    config = profile_config("tiny").updated(WITH_BUDGET)
    return search(config, run_dir=tmp_path_factory.mktemp("budget"), show_progress=False)


@pytest.mark.parametrize("text, unit, value", [
    ("3M", "parameters", 3e6), ("3e6", "parameters", 3e6), ("3000000", "parameters", 3e6),
    ("3M parameters", "parameters", 3e6), ("2.5Mparams", "parameters", 2.5e6), ("1.5G", "flops (multiply-adds)", 1.5e9),
    ("400M flops", "flops (multiply-adds)", 4e8), ("4ms", "ms", 4.0), ("4", "ms", 4.0), ("0.004s", "ms", 4.0),
    ("4000us", "ms", 4.0),
])
def test_budget_values_with_units(text, unit, value):
    name = "params" if unit == "parameters" else "flops" if unit.startswith("flops") else "latency"
    assert parse_budget_value(name, text, unit) == pytest.approx(value)


@pytest.mark.parametrize("text, message", [
    ("4ms", "params is measured in parameters, not 'ms'"), ("3M flops", "not 'flops'"), ("lots", "expected a number"),
    ("0", "must be a positive"), ("-3M", "expected a number"),
])
def test_bad_budget_values(text, message):
    with pytest.raises(RapdartsError, match=message):
        parse_budget_value("params", text, "parameters")


def test_dual_ascent_step_by_hand():
    assert dual_step(0.1, cost=1.2e6, budget=1e6, step=0.5) == pytest.approx(0.1 + 0.5 * 0.2)
    assert dual_step(0.1, cost=0.5e6, budget=1e6, step=0.5) == 0.0  # projected: never below zero
    assert dual_step(0.0, cost=1e6, budget=1e6, step=0.5) == 0.0  # on budget: unchanged


def test_one_search_meets_a_budget_that_the_start_misses(budget_search):
    rows = budget_search.metrics
    first, last = rows[0], rows[-1]
    assert first["genotype_cost"]["params"] > 1.5 * BUDGET  # the architecture before any alpha step
    assert first["budgets"]["params"]["lambda"] == 0.0 < max(row["budgets"]["params"]["lambda"] for row in rows)
    assert all(len(row["budgets"]["params"]["step_lambda"]) == 3 for row in rows if row["arch_trained"])
    summary = json.loads((budget_search.run_dir / "budgets.json").read_text())["budgets"]["params"]
    assert summary["searched"] == last["genotype_cost"]["params"] <= 1.05 * BUDGET  # the search itself got close
    params = discover_providers().get("params")
    final = genotype_costs(budget_search.genotype, [params], TargetNetwork(DIGITS))["params"]
    assert summary["final"] == final <= BUDGET and summary["meets"]  # and the final genotype meets it
    assert summary["meets_without_repair"] == (summary["searched"] <= BUDGET)
    ends = json.loads((budget_search.run_dir / "budgets.json").read_text())["stage_ends"]
    assert all(abs(e["costs"]["params"]["predicted_error"]) < abs(e["costs"]["params"]["expected_error"])
               for e in ends)  # closer than the 14-edge expectation at every stage end
    assert (budget_search.run_dir / "plots" / "budgets.png").stat().st_size > 0
    assert set(last["expected_cost"]) == set(last["predicted_cost"]) == {"params", "flops"} != set(last["budgets"])


def _penalty(budget: str, band: float = 0.03) -> BudgetPenalty:
    config = profile_config("tiny").updated({"budgets": {"params": budget}, "budget_band": band})
    penalty = BudgetPenalty(config, discover_providers())
    penalty.prepare(DIGITS)
    return penalty


class _Probabilities:
    """Stands in for the last stage's supernet: the final genotype's repair reads only its probabilities."""

    def __init__(self, probs):
        self.probs = probs

    def probabilities(self):
        return self.probs


def test_repair_changes_only_what_the_budget_needs():
    """One dil_conv_3x3 on an all-pooling genotype puts it one parameter over budget: with a band wide enough to
    hold the all-pooling network, one change, the least probable, fixes it."""
    ops = primitives()
    candidates = {cell: tuple(ops for _ in range(EDGES)) for cell in ("normal", "reduce")}
    probs = {cell: torch.full((EDGES, len(ops)), 0.05) for cell in candidates}
    for cell in candidates:
        probs[cell][:, ops.index("max_pool_3x3")] = 0.5
    probs["normal"][0, ops.index("dil_conv_3x3")] = 0.6  # node 2 keeps edge 0 whatever its op
    genotype = derive_genotype(candidates, probs)
    params = discover_providers().get("params")
    cost = genotype_costs(genotype, [params], TargetNetwork(DIGITS))["params"]
    assert cost > 1_368_190  # the all-pooling floor
    penalty = _penalty(str(int(cost) - 1), band=0.5)
    repaired = penalty.final_genotype(_Probabilities(probs), candidates, genotype)
    repair = penalty.repair
    assert repair["before"]["params"] == cost > cost - 1 >= repair["after"]["params"]
    assert repair["moves"] == [{"cell": "normal", "from": ["dil_conv_3x3", 0], "to": ["max_pool_3x3", 0]}]
    assert repaired.normal[1:] == genotype.normal[1:] and repaired.reduce == genotype.reduce
    assert Genotype.from_dict(repair["genotype_before"]) == genotype


@pytest.mark.slow
def test_budget_search_resumes_bit_identically(budget_search, tmp_path):
    class Crash(Exception):
        pass

    def crash(stage: int, epoch: int, step: int) -> None:
        if (stage, epoch, step) == (1, 1, 2):
            raise Crash

    config = profile_config("tiny").updated(WITH_BUDGET)
    with pytest.raises(Crash):
        search(config, run_dir=tmp_path, show_progress=False, on_step=crash)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["extensions"][0]["multipliers"]["params"]
    assert saved == _lines(tmp_path / "metrics.jsonl")[-1]["budgets"]["params"]["multiplier"] > 0
    resumed = resume(tmp_path, show_progress=False)
    assert resumed.genotype == budget_search.genotype
    assert _lines(tmp_path / "alphas.jsonl") == _lines(budget_search.run_dir / "alphas.jsonl")
    assert _lines(tmp_path / "metrics.jsonl")[-1]["budgets"] == budget_search.metrics[-1]["budgets"]


@pytest.mark.parametrize("args, message", [
    (["--budget", "params=1M"], "below the cheapest architecture this search space allows (1,368,190 parameters"),
    (["--budget", "paramz=3M"], "unknown cost 'paramz'; available costs:"),
    (["--budget", "params=4ms"], "params is measured in parameters, not 'ms'"),
    (["--budget", "params"], "--budget 'params' must look like NAME=VALUE"),
    (["--budget", "params=3M", "--cost", "params=1e-7"], "has both a fixed lambda"),
    (["--budget", "params=3M", "--cost-target", "search"], "--cost-target search cannot be combined with --budget"),
    (["--budget", "params=3M", "--budget-step", "0"], "'budget_step' = 0.0 is not allowed: it must be a number > 0"),
])
def test_bad_budgets_fail_before_the_search_starts(args, message, capsys, tmp_path):
    status = main(["search", "--profile", "tiny", "--device", "cpu", "--run-dir", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()  # nothing on disk


def test_each_budget_has_its_own_multiplier():
    from rapdarts.space.supernet import SearchNetwork

    config = profile_config("tiny").updated({"budgets": {"params": "2M", "flops": "20M"}, "budget_step": 0.5})
    extension = BudgetPenalty(config, discover_providers())
    extension.prepare(DIGITS)
    candidates = tuple(tuple(primitives()) for _ in range(EDGES))
    model = SearchNetwork(4, 10, 1, candidates, candidates, in_channels=1, image_size=(8, 8))
    terms = {term.name: term for term in extension.loss_terms(model, 0)}
    assert set(terms) == {"params", "flops"} and all(term.weight == 0.0 for term in terms.values())
    extension.after_alpha_step(model, {"params": torch.tensor(3e6), "flops": torch.tensor(10e6)})
    assert extension.multipliers == {"params": 0.5 * (3e6 / 2e6 - 1), "flops": 0.0}  # over / under budget
    assert terms["params"].weight == 0.25 / 2e6 and terms["flops"].weight == 0.0
    extension.after_alpha_step(model, {"params": torch.tensor(1e6)})  # flops unweighted: measured from the model
    assert extension.multipliers["params"] == 0.0
    assert extension.state_dict()["multipliers"] == extension.multipliers


def test_repair_may_use_ops_pruned_before_the_last_stage():
    """Both edges of the first node are always kept; pruning left them only convolutions."""
    extension = _penalty("1.4M")
    convs, pools = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3"), ("none", "max_pool_3x3", "avg_pool_3x3")
    candidates = {"normal": (convs, convs) + (pools,) * (EDGES - 2), "reduce": (pools,) * EDGES}
    probs = {cell: torch.full((EDGES, 3), 1 / 3) for cell in candidates}
    genotype = derive_genotype(candidates, probs)
    assert [op for op, _ in genotype.normal[:2]] == ["sep_conv_3x3", "sep_conv_3x3"]
    repaired = extension.final_genotype(_Probabilities(probs), candidates, genotype)
    params = discover_providers().get("params")
    assert genotype_costs(repaired, [params], extension.target)["params"] == 1_368_190  # the floor
    assert {op for op, _ in repaired.normal[:2]} <= {"max_pool_3x3", "avg_pool_3x3", "skip_connect"}
    assert extension.repair["before"]["params"] > 1.4e6


def test_the_search_lands_in_the_band_of_its_budget(budget_search):
    summary = json.loads((budget_search.run_dir / "budgets.json").read_text())["budgets"]["params"]
    assert 0.97 * BUDGET <= summary["final"] <= BUDGET and summary["judged_on"] == "predicted"
