"""The search-extension protocol: the search calls every method, in the documented order, and resumes
an extension's state."""

from __future__ import annotations

import json

import pytest
import torch

from rapdarts.api import resume, search
from rapdarts.plugins.extensions import SearchExtension
from rapdarts.search.config import profile_config

QUICK = {"device": "cpu", "threads": 1, "epochs": 2, "warmup_epochs": 1, "train_subset": 128, "cells": (1, 1, 1)}


class AlphaNorm:
    """A loss term: the squared norm of the alphas, in units of 'alpha^2'."""

    name = "alpha_norm"
    weight = 1e-3

    def value(self, model):
        return sum((alpha ** 2).sum() for alpha in model.alphas().values())


class Recorder(SearchExtension):
    """Records every call; counts alpha steps in its state; swaps the final genotype's cells."""

    def __init__(self):
        self.calls: list[str] = []
        self.alpha_steps = 0

    def prepare(self, shape):
        self.calls.append(f"prepare {shape.in_channels}x{shape.image_size[0]}x{shape.image_size[1]}")

    def loss_terms(self, model, stage):
        self.calls.append(f"loss_terms {stage}")
        return [AlphaNorm()]

    def after_alpha_step(self, model, parts):
        assert set(parts) == {"ce", "alpha_norm"}
        self.alpha_steps += 1

    def epoch_metrics(self, model, genotype):
        self.calls.append("epoch_metrics")
        return {"recorded_alpha_steps": self.alpha_steps}

    def state_dict(self):
        return {"alpha_steps": self.alpha_steps}

    def load_state_dict(self, state):
        self.calls.append(f"load_state_dict {state['alpha_steps']}")
        self.alpha_steps = state["alpha_steps"]

    def final_genotype(self, model, candidates, genotype):
        self.calls.append("final_genotype")
        return type(genotype)(genotype.reduce, genotype.reduce_concat, genotype.normal, genotype.normal_concat)

    def finish(self, run_dir, metrics):
        self.calls.append(f"finish {len(metrics)}")


@pytest.mark.slow
def test_the_search_calls_every_method_in_order(tmp_path):
    recorder = Recorder()
    result = search(profile_config("tiny").updated(QUICK), run_dir=tmp_path, extensions=[recorder],
                    show_progress=False)
    epoch = ["epoch_metrics"] * 2
    assert recorder.calls == ["prepare 1x8x8", "loss_terms 0", *epoch, "loss_terms 1", *epoch, "loss_terms 2", *epoch,
                              "final_genotype", "finish 6"]
    # one alpha step per epoch after the warm-up epoch of each stage
    assert [row["recorded_alpha_steps"] for row in result.metrics] == [0, 1, 1, 2, 2, 3]
    derived = json.loads((tmp_path / "stages.json").read_text())[-1]["genotype"]
    assert derived == result.genotype.to_dict()  # the last stage's record holds the genotype final_genotype gave
    assert json.loads((tmp_path / "genotype.json").read_text()) == result.genotype.to_dict()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["extensions"] == [{"alpha_steps": 3}]


@pytest.mark.slow
def test_a_resumed_search_restores_the_extension_state_first(tmp_path):
    class Crash(Exception):
        pass

    def crash(stage, epoch, step):
        if (stage, epoch) == (1, 1):
            raise Crash

    config = profile_config("tiny").updated(QUICK)
    with pytest.raises(Crash):
        search(config, run_dir=tmp_path, extensions=[Recorder()], show_progress=False, on_step=crash)
    recorder = Recorder()
    resumed = resume(tmp_path, extensions=[recorder], show_progress=False)
    assert recorder.calls[:3] == ["prepare 1x8x8", "load_state_dict 1", "loss_terms 1"]
    assert [row["recorded_alpha_steps"] for row in resumed.metrics] == [0, 1, 1, 2, 2, 3]
