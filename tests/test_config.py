"""Config: paper defaults, profiles, coercion, files, and one-line errors for impossible settings."""

from __future__ import annotations

import json

import pytest

from rapdarts.errors import RapdartsError
from rapdarts.search.config import PROFILES, SearchConfig, profile_config
from rapdarts.settings import load_config_file


def test_defaults_are_the_published_pdarts_settings():
    c = SearchConfig()
    assert (c.cells, c.ops_kept, c.skip_dropout) == ((5, 11, 17), (8, 5, 3), (0.1, 0.4, 0.7))
    assert (c.epochs, c.warmup_epochs, c.batch_size, c.init_channels) == (25, 10, 96, 16)
    assert (c.lr, c.lr_min, c.momentum, c.weight_decay, c.grad_clip) == (0.025, 0.0, 0.9, 3e-4, 5.0)
    assert (c.arch_lr, c.arch_betas, c.arch_weight_decay) == (6e-4, (0.5, 0.999), 1e-3)
    assert c.max_skip_connects == 2 and c.train_portion == 0.5


def test_profiles_only_change_sizes_not_the_algorithm():
    algorithm = ("ops_kept", "skip_dropout", "dropout_decay", "max_skip_connects", "lr", "arch_lr", "train_portion")
    for name in PROFILES:
        config = profile_config(name)
        assert config.profile == name
        for key in algorithm:
            assert getattr(config, key) == getattr(SearchConfig(), key), (name, key)
        assert len(config.cells) == 3 and list(config.cells) == sorted(config.cells)


def test_command_line_strings_are_coerced():
    c = SearchConfig().updated({"cells": "2,3,4", "lr": "0.1", "amp": "true", "train_subset": "100",
                                "skip_dropout": "0,0.1,0.2"})
    assert c.cells == (2, 3, 4) and c.lr == 0.1 and c.amp is True and c.train_subset == 100
    assert c.skip_dropout == (0.0, 0.1, 0.2)


def test_dict_round_trip_and_config_files(tmp_path):
    c = profile_config("tiny").updated({"costs": {"params": 1e-7}})
    assert SearchConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    (tmp_path / "config.json").write_text(json.dumps(c.to_dict()))
    assert load_config_file(tmp_path) == c.to_dict()
    (tmp_path / "c.toml").write_text('epochs = 4\ncells = [1, 2, 3]\n')
    assert SearchConfig().updated(load_config_file(tmp_path / "c.toml")).cells == (1, 2, 3)


@pytest.mark.parametrize("changes, message", [
    ({"ops_kept": (9, 5, 3)}, "keeps 9 ops per edge but only 8 candidate ops exist"),
    ({"ops_kept": (5, 6, 3)}, "never grow"),
    ({"cells": (5, 11)}, "one entry per stage"),
    ({"primitives": ("none", "conv_9x9")}, "unknown op 'conv_9x9'"),
    ({"primitives": ("none", "none", "skip_connect")}, "lists an op twice"),
    ({"dataset": "mnist"}, "'dataset' = 'mnist' is not allowed: it must be one of digits, cifar10"),
    ({"dataset": "imagefolder"}, "needs --data-dir"),
    ({"warmup_epochs": 30}, "warmup_epochs <= epochs"),
    ({"batch_size": 1}, "'batch_size' = 1 is not allowed: it must be a number >= 2"),
    ({"costs": {"params": -1.0}}, "'costs', entry 'params' = -1.0 is not allowed: it must be a number >= 0"),
    ({"costs": {"params": float("nan")}}, "entry 'params' = nan is not allowed"),
])
def test_impossible_settings_are_rejected(changes, message):
    with pytest.raises(RapdartsError, match=message):
        SearchConfig().updated(changes).validate()


def test_bad_values_and_keys_name_the_setting(tmp_path):
    with pytest.raises(RapdartsError, match="setting 'epochs' got 'many'"):
        SearchConfig().updated({"epochs": "many"})
    with pytest.raises(RapdartsError, match="unknown setting 'epoch'"):
        SearchConfig().updated({"epoch": 3})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RapdartsError, match="not valid JSON"):
        load_config_file(tmp_path / "bad.json")
    with pytest.raises(RapdartsError, match="unknown profile"):
        profile_config("huge")


def test_memory_budget_takes_units_and_excludes_a_fixed_recompute():
    assert SearchConfig().updated({"memory_budget": "4GB"}).memory_budget == 4.0
    assert SearchConfig().updated({"memory_budget": "512MB"}).memory_budget == pytest.approx(0.512)
    assert SearchConfig().updated({"memory_budget": 2}).memory_budget == 2.0
    with pytest.raises(RapdartsError, match="'memory_budget' got '4 parsecs': expected a number with an optional unit"):
        SearchConfig().updated({"memory_budget": "4 parsecs"})
    with pytest.raises(RapdartsError, match="--memory-budget decides which cells recompute, but --recompute is 'off'"):
        SearchConfig().updated({"memory_budget": 4, "recompute": "off"}).validate()
