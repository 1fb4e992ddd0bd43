"""Training a genotype: published defaults, schedules, the run directory, the report, and resume."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from rapdarts.api import load_resumable_training, train
from rapdarts.cli import main
from rapdarts.errors import RapdartsError
from rapdarts.runtime.evaluation import evaluate_classifier
from rapdarts.space.genotype import preset
from rapdarts.space.network import EvalNetwork, count_parameters
from rapdarts.train.checkpoint import load_trained
from rapdarts.train.config import TRAIN_PROFILES, TrainConfig, train_profile_config
from rapdarts.train.loop import drop_path_schedule
from rapdarts.train.step import TrainingStep

TIMING_KEYS = ("seconds", "train_seconds")


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def test_defaults_are_the_published_evaluation_settings():
    c = TrainConfig()
    assert (c.init_channels, c.cells, c.epochs, c.batch_size) == (36, 20, 600, 128)
    assert (c.auxiliary, c.auxiliary_weight, c.drop_path_prob, c.cutout_length) == (True, 0.4, 0.3, 16)
    assert (c.lr, c.lr_min, c.momentum, c.weight_decay, c.grad_clip) == (0.025, 0.0, 0.9, 3e-4, 5.0)
    assert c.train_subset is None and c.test_subset is None
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata["help"], f.name


def test_profiles_only_change_sizes_not_the_algorithm():
    algorithm = ("auxiliary", "auxiliary_weight", "drop_path_prob", "cutout_length", "lr", "lr_min", "momentum",
                 "weight_decay", "grad_clip")
    for name in TRAIN_PROFILES:
        config = train_profile_config(name)
        assert config.profile == name
        for key in algorithm:
            assert getattr(config, key) == getattr(TrainConfig(), key), (name, key)


def test_cutout_keeps_the_published_fraction_of_the_image():
    config = TrainConfig()
    assert config.cutout_pixels((32, 32)) == 16  # DARTS: 16 of 32 pixels
    assert config.cutout_pixels((8, 8)) == 4  # the digits: half the side as well
    assert config.cutout_pixels((64, 48)) == 24
    assert dataclasses.replace(config, cutout_length=0).cutout_pixels((32, 32)) == 0


def test_drop_path_ramps_linearly_from_zero():
    assert [drop_path_schedule(0.3, e, 600) for e in (0, 300, 599)] == [0.0, 0.15, 0.3 * 599 / 600]


@pytest.mark.parametrize("changes, message", [
    ({"cells": 2}, "'cells' = 2 is not allowed: it must be a number >= 3"),
    ({"layers": 2}, "'cells' = 2 is not allowed"),  # the former name of the setting
    ({"drop_path_prob": 1.0}, re.escape("'drop_path_prob' = 1.0 is not allowed: it must be in [0, 1)")),
    ({"lr_min": 1.0}, "lr_min <= lr"),
    ({"batch_size": 1}, "'batch_size' = 1 is not allowed: it must be a number >= 2"),
    ({"dataset": "mnist"}, "'dataset' = 'mnist' is not allowed"),
])
def test_impossible_settings_are_one_line_errors(changes, message):
    with pytest.raises(RapdartsError, match=message):
        TrainConfig().updated(changes).validate()


def test_the_step_minimises_cross_entropy_plus_weighted_auxiliary_loss():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = EvalNetwork(preset("DARTS_V2"), init_channels=4, num_classes=10, cells=5, in_channels=1, image_size=(8, 8))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    torch.manual_seed(1)
    logits, aux = model.train()(x)
    expected = nn.functional.cross_entropy(logits, y) + 0.4 * nn.functional.cross_entropy(aux, y)
    before = [p.detach().clone() for p in model.parameters()]
    steps = TrainingStep(model, lr=0.1, momentum=0.9, weight_decay=0.0, grad_clip=1e-3, auxiliary_weight=0.4)
    torch.manual_seed(1)
    loss, objective, correct = steps.step(x, y)
    assert torch.allclose(objective, expected.detach(), atol=1e-5)
    assert torch.allclose(loss, nn.functional.cross_entropy(logits, y).detach(), atol=1e-5)
    assert correct == (logits.argmax(1) == y).sum()
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    assert moved.norm().item() == pytest.approx(0.1 * 1e-3, rel=1e-3)  # first step: lr * gradient clipped to 1e-3


def test_tiny_training_run_directory_and_report(tiny_training):
    run = tiny_training
    for name in ("config.json", "environment.json", "genotype.json", "metrics.jsonl", "checkpoint.pt", "train.log",
                 "report.json", "model.onnx"):
        assert (run / name).is_file(), name
    for plot in ("learning_curve.png", "cells.png"):
        assert (run / "plots" / plot).stat().st_size > 1000, plot
    assert not list(run.glob("**/*.tmp"))
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["lr"] for r in rows] == pytest.approx([0.025 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)])
    assert [r["drop_path_prob"] for r in rows] == pytest.approx([0.0, 0.1, 0.2])
    assert max(r["test_acc"] for r in rows) > 0.25, "the network did not learn (chance is 0.10)"
    environment = json.loads((run / "environment.json").read_text())
    assert environment["seed"] == 0 and environment["packages"]["torch"] and environment["cutout_pixels"] == 4
    assert environment["dataset"]["test_images"] == 360

    report = json.loads((run / "report.json").read_text())
    assert report["test"]["error"] == pytest.approx(1 - rows[-1]["test_acc"])
    assert report["test"]["images"] == 360 and report["epoch"] == 3
    model = EvalNetwork(preset("PDARTS"), init_channels=4, num_classes=10, cells=5, in_channels=1, image_size=(8, 8))
    counted = count_parameters(model).without_auxiliary
    assert report["parameters"]["without_auxiliary"] == counted
    assert report["costs"]["params"]["value"] == counted and report["parameter_check"]["matches"] == {"params": True}
    assert report["costs"]["flops"]["value"] > counted  # at least one multiply-add per weight at 8x8
    assert set(report["costs"]) == {"params", "flops"}  # --report-costs params,flops
    latency = report["onnx_latency"]
    assert 0 < latency["p10_ms"] <= latency["median_ms"] <= latency["p90_ms"]
    assert latency["timing"]["intra_threads"] == 1 and latency["batch"] == 1
    assert report["onnx"]["max_abs_diff"] < 1e-4


def test_flops_in_the_report_match_the_cost_command(tiny_training, capsys):
    report = json.loads((tiny_training / "report.json").read_text())
    assert main(["cost", "PDARTS", "--cost", "flops", "--init-channels", "4", "--cells", "5", "--in-channels", "1",
                 "--image-size", "8"]) == 0
    assert f"{report['costs']['flops']['value']:,.0f}" in capsys.readouterr().out


class Crash(Exception):
    pass


@pytest.mark.slow
def test_resume_after_a_crash_is_bit_identical(tiny_training, tmp_path, capsys):
    config = train_profile_config("tiny").updated({"device": "cpu", "threads": 1, "report_costs": ("params", "flops")})
    assert json.loads((tiny_training / "config.json").read_text()) == config.to_dict()

    def crash(stage: int, epoch: int, step: int) -> None:
        if (epoch, step) == (1, 5):  # mid second epoch
            raise Crash

    with pytest.raises(Crash):
        train(config, preset("PDARTS"), run_dir=tmp_path, genotype_source="PDARTS", show_progress=False,
              on_step=crash)
    assert len(_rows(tmp_path)) == 1 and not (tmp_path / "report.json").exists()
    assert main(["train", "--resume", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test top-1 error" in out and f"Run directory: {tmp_path}" in out
    assert _without_timing(_rows(tmp_path)) == _without_timing(_rows(tiny_training))
    resumed, original = load_trained(tmp_path), load_trained(tiny_training)
    assert resumed.state.keys() == original.state.keys()
    assert all(torch.equal(resumed.state[k], original.state[k]) for k in original.state)


def test_resuming_a_finished_run_keeps_its_weights(tiny_training):
    trainer = load_resumable_training(tiny_training, show_progress=False)
    assert trainer.epoch == trainer.config.epochs
    result = evaluate_classifier(trainer.model, trainer.test_data, 32, torch.device("cpu"), channels_last=True)
    assert result.accuracy == pytest.approx(_rows(tiny_training)[-1]["test_acc"])


def _error_of(args, capsys) -> tuple[int, str]:
    status = main(args)
    return status, capsys.readouterr().err.strip()


def _genotype_file(tmp_path: Path, change) -> str:
    data = preset("PDARTS").to_dict()
    change(data)
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda g: g["normal"].__setitem__(0, ["conv_9x9", 0]), "unknown op 'conv_9x9'"),
    (lambda g: g["normal"].__setitem__(2, ["sep_conv_3x3", 3]), "reads node 3, which does not exist yet"),
    (lambda g: g["reduce"].pop(), "reduce cell has 7 edges; it needs two per intermediate node"),
])
@pytest.mark.parametrize("command", [["train"], ["export"]])
def test_invalid_genotypes_are_one_line_errors(command, change, message, tmp_path, capsys):
    extra = ["--onnx", str(tmp_path / "m.onnx")] if command == ["export"] else [*_tiny(), "--run-dir",
                                                                                 str(tmp_path / "run")]
    status, err = _error_of([*command, _genotype_file(tmp_path, change), *extra], capsys)
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "m.onnx").exists()


def _tiny() -> list[str]:
    return ["--profile", "tiny", "--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.mark.parametrize("args, message", [
    (["train", *_tiny()], "name the genotype to train"),
    (["train", "PDARTS", *_tiny(), "--report-costs", "params,nope"], "unknown cost 'nope'"),
    (["train", "PDARTS", *_tiny(), "--epochs", "zero"], "setting 'epochs' got 'zero'"),
    (["train", "PDARTS", *_tiny(), "--amp"], "--amp needs a CUDA device"),
    (["train", "--resume", "/nonexistent/run"], "run directory /nonexistent/run does not exist"),
    (["train", "PDARTS", "--resume", "/nonexistent/run"], "drop GENOTYPE and the other options"),
])
def test_bad_train_input_is_one_line(args, message, capsys, tmp_path):
    status, err = _error_of([*args, "--run-dir", str(tmp_path / "run")] if "--resume" not in args else args, capsys)
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_resuming_a_search_run_as_training_is_refused(tiny_search, capsys):
    status, err = _error_of(["train", "--resume", str(tiny_search.run_dir)], capsys)
    assert status == 2 and "is a search checkpoint, not a trained network" in err


def test_a_search_run_trains_on_the_dataset_it_was_searched_on(tmp_path, capsys):
    from rapdarts.search.config import profile_config

    search_config = profile_config("tiny").updated({"dataset": "imagefolder", "data_dir": str(tmp_path / "images")})
    (tmp_path / "config.json").write_text(json.dumps(search_config.to_dict()))
    (tmp_path / "genotype.json").write_text(preset("DARTS_V2").to_json())
    status, err = _error_of(["train", str(tmp_path), *_tiny(), "--run-dir", str(tmp_path / "run")], capsys)
    assert status == 2 and f"data directory {tmp_path / 'images'} does not exist" in err
