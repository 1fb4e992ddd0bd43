"""Every setting has a declared domain, and every value outside it is refused before anything is written.

The property test walks every field of ``SearchConfig`` and ``TrainConfig``: values of the wrong type,
the edges of its domain, NaN and infinity. Each goes through the command line in a config file and
must end in one line on stderr naming the setting, exit status 2, and no run directory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rapdarts.cli import main
from rapdarts.search.config import PROFILES as SEARCH_PROFILES
from rapdarts.search.config import SearchConfig, profile_config
from rapdarts.settings import ANY, SettingsRecord
from rapdarts.train.config import TRAIN_PROFILES, TrainConfig, train_profile_config

ALIASED = {"costs": "params", "cost_options": "latency.table", "budgets": "params"}
"""The key used when a bad value is put inside a mapping setting."""


def _wrong_types(field: dataclasses.Field, default: Any) -> list[Any]:
    """Values of the wrong type for ``field``: JSON a user might write by mistake."""
    kind = str(field.type)
    wrong: list[Any] = [] if "None" in kind else [None]
    if kind.startswith("tuple"):
        numeric = "int" in kind or "float" in kind
        return wrong + [5, {"a": 1}] + ([["x", *default[1:]], [True, *default[1:]]] if numeric else [[1], [["a"]]])
    if kind.startswith("dict"):
        key = ALIASED.get(field.name, "x")
        return wrong + [[1], "a=b", {key: [1]}, {key: True}]
    if kind.startswith("bool"):
        return wrong + [7, "maybe", 0.5, [True]]
    if kind.startswith("int"):
        return wrong + [True, "many", 1.5, [1]]
    if kind.startswith("float"):
        return wrong + [True, "fast", [0.1]]
    return wrong + [5, True, ["a"]]


def _outside(field: dataclasses.Field, default: Any) -> list[Any]:
    """The edges of the field's domain, placed where the field holds them (tuple items, mapping values)."""
    edges = field.metadata["domain"].outside
    kind = str(field.type)
    if kind.startswith("tuple"):
        return [[edge, *default[1:]] for edge in edges]
    if kind.startswith("dict"):
        return [{ALIASED.get(field.name, "x"): edge} for edge in edges]
    return list(edges)


def _cases(config_class: type[SettingsRecord]) -> list[tuple[str, str, Any]]:
    default = config_class()
    cases = []
    for field in dataclasses.fields(config_class):
        value = getattr(default, field.name)
        for bad in _wrong_types(field, value) + _outside(field, value):
            cases.append((config_class.__name__, field.name, bad))
    return cases


CASES = _cases(SearchConfig) + _cases(TrainConfig)


def _numeric(field: dataclasses.Field) -> bool:
    kind = str(field.type)
    return any(kind.startswith(k) or f"[{k}" in kind or f", {k}" in kind for k in ("int", "float"))


@pytest.mark.parametrize("config_class", [SearchConfig, TrainConfig])
def test_every_number_setting_declares_its_domain(config_class):
    undeclared = [f.name for f in dataclasses.fields(config_class)
                  if _numeric(f) and f.metadata["domain"] is ANY]
    assert undeclared == []


PROFILE_CASES = [("search", name) for name in SEARCH_PROFILES] + [("train", name) for name in TRAIN_PROFILES]


@pytest.mark.parametrize("kind, name", PROFILE_CASES)
def test_defaults_and_every_profile_are_inside_the_domains(kind, name):
    make, profiles = (profile_config, SEARCH_PROFILES) if kind == "search" else (train_profile_config, TRAIN_PROFILES)
    config = make(name)
    config.check_domains()
    config.validate()
    for setting, value in profiles[name].items():  # the profile's own values, as the profile sets them
        assert getattr(config, setting) == value, (name, setting)


def test_every_profile_is_checked():
    assert len(PROFILE_CASES) == len(SEARCH_PROFILES) + len(TRAIN_PROFILES) >= 6


def _run(kind: str, bad_setting: str, value: Any, tmp_path: Path, capsys) -> tuple[int, str]:
    if kind == "SearchConfig":
        base, command = profile_config("tiny").to_dict(), ["search"]
    else:
        base, command = train_profile_config("tiny").to_dict(), ["train", "PDARTS"]
    base[bad_setting] = value
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(base))
    capsys.readouterr()
    status = main([*command, "--config", str(config), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    return status, capsys.readouterr().err.strip()


@pytest.mark.parametrize("kind, name, value", CASES, ids=[f"{k[:6]}-{n}-{v!r}"[:60] for k, n, v in CASES])
def test_out_of_domain_values_are_refused_before_anything_is_written(kind, name, value, tmp_path, capsys):
    status, err = _run(kind, name, value, tmp_path, capsys)
    assert status == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "internal error" not in err, err
    shown = name.replace("_", "-")
    assert name in err or shown in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("args, message", [
    (["--momentum", "-0.1"], "'momentum' = -0.1 is not allowed: it must be in [0, 1)"),
    (["--weight-decay", "-1e-4"], "'weight_decay' = -0.0001 is not allowed: it must be a number >= 0"),
    (["--arch-betas", "0.5,1.0"], "'arch_betas' = 0.5,1.0 is not allowed"),
    (["--max-skip-connects", "-1"], "'max_skip_connects' = -1"),
    (["--seed", "-3"], "'seed' = -3"),
    (["--threads", "0"], "'threads' = 0"),
    (["--grad-clip", "-1"], "'grad_clip' = -1.0"),
    (["--train-subset", "0"], "'train_subset' = 0"),
    (["--epochs", "nan"], "setting 'epochs' got 'nan': expected an integer"),
    (["--lr", "inf"], "'lr' = inf is not allowed"),
])
def test_command_line_values_out_of_range(args, message, tmp_path, capsys):
    status = main(["search", "--profile", "tiny", *args, "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("setting, value, message", [
    ("epochs", True, "expected an integer, not a boolean"),
    ("channels_last", 7, "expected true or false"),
    ("cells", "2345", "one entry per stage"),
    ("primitives", "none", "only 1 candidate ops exist"),
])
def test_json_values_are_not_coerced(setting, value, message, tmp_path, capsys):
    status, err = _run("SearchConfig", setting, value, tmp_path, capsys)
    assert status == 2 and message in err, err


def test_export_image_size_is_checked(tmp_path, capsys):
    status = main(["export", "DARTS_V2", "--onnx", str(tmp_path / "m.onnx"), "--image-size", "0"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "--image-size" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "m.onnx").exists()


def test_a_setting_set_in_python_is_checked_too():
    config = dataclasses.replace(profile_config("tiny"), momentum=-1.0)
    with pytest.raises(Exception, match="'momentum' = -1.0 is not allowed"):
        config.validate()
