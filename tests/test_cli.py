"""The command line: a real search, and one-line errors with exit status 2 for bad input."""

from __future__ import annotations

import json

import pytest

from rapdarts.cli import main
from rapdarts.errors import RapdartsError

FAST = ["--profile", "tiny", "--device", "cpu", "--no-progress", "--epochs", "1", "--warmup-epochs", "0"]


@pytest.mark.slow
def test_search_prints_the_genotype_and_the_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["search", *FAST, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Discovered genotype:" in out and f"Run directory: {run}" in out
    config = json.loads((run / "config.json").read_text())
    assert config["profile"] == "tiny" and config["epochs"] == 1
    assert (run / "search.log").read_text().count("epoch 1/1") == 3


@pytest.mark.slow
def test_a_run_config_reruns_the_same_search(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["search", *FAST, "--run-dir", str(first)]) == 0
    assert main(["search", "--config", str(first / "config.json"), "--no-progress", "--run-dir", str(second)]) == 0
    assert (first / "genotype.json").read_text() == (second / "genotype.json").read_text()


def _error_of(args, capsys):
    status = main(args)
    err = capsys.readouterr().err.strip()
    return status, err


@pytest.mark.parametrize("args, message", [
    (["search", "--dataset", "mnist"], "setting 'dataset' = 'mnist' is not allowed: it must be one of digits"),
    (["search", "--primitives", "none,conv_9x9"], "unknown op 'conv_9x9'"),
    (["search", "--ops-kept", "9,5,3"], "keeps 9 ops per edge"),
    (["search", "--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "/nonexistent/cifar does not exist"),
    (["search", "--dataset", "imagefolder", "--data-dir", "/nonexistent/images"], "does not exist"),
    (["search", "--epochs", "many"], "setting 'epochs' got 'many'"),
    (["search", "--cost", "params"], "must look like NAME=NUMBER"),
    (["search", "--profile", "huge"], "'huge' is not one of"),
    (["search", "--no-such-option"], "No such option"),
    (["search", "--resume", "/nonexistent/run"], "run directory /nonexistent/run does not exist"),
    (["search", "--resume", "somewhere", "--epochs", "3"], "drop the other options"),
    (["genotype", "NOT_A_PRESET"], "neither a genotype preset"),
])
def test_bad_input_gets_one_line_and_exit_status_2(args, message, capsys):
    status, err = _error_of(args, capsys)
    assert status == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_malformed_genotype_file(tmp_path, capsys):
    bad = tmp_path / "g.json"
    bad.write_text('{"normal": [["sep_conv_3x3", 0]]')
    status, err = _error_of(["genotype", str(bad)], capsys)
    assert status == 2 and "is not valid JSON" in err and str(bad) in err


def test_non_empty_run_dir_is_refused(tmp_path, capsys):
    (tmp_path / "something").write_text("x")
    status, err = _error_of(["search", "--profile", "tiny", "--run-dir", str(tmp_path)], capsys)
    assert status == 2 and "already has files" in err


def test_debug_shows_the_exception(capsys):
    with pytest.raises(RapdartsError):
        main(["search", "--dataset", "mnist", "--debug"])


def test_genotype_command_reports_published_parameters(capsys, tmp_path):
    assert main(["genotype", "DARTS_V2", "--plot", str(tmp_path / "cells.png")]) == 0
    out = capsys.readouterr().out
    assert "3,349,342 without the auxiliary head" in out
    assert (tmp_path / "cells.png").stat().st_size > 1000
    assert main(["genotype", "PDARTS", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["normal"][0] == ["skip_connect", 0]


def test_ops_lists_the_registry(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 8 and "sep_conv_5x5" in out
