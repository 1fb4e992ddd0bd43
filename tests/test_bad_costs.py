"""A bad cost is found before a run directory exists; caches never mix plugins; foreign tables are named."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from rapdarts.api import search
from rapdarts.cli import main
from rapdarts.costs import CostProvider, OpSpec
from rapdarts.costs.cache import CostCache
from rapdarts.errors import RapdartsError
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice import TimingSettings, table_header, write_table
from rapdarts.plugins.hookspecs import hookimpl
from rapdarts.search.config import profile_config

SPEC = OpSpec("sep_conv_3x3", 8, 8, 1, 8, 8)


def _table(path: Path, entries: dict | None = None, **header_changes) -> Path:
    header = table_header(TimingSettings(), 1, "float32", 0, "a test")
    header.update(overhead_ms=0.01, complete=True, **header_changes)
    write_table(path, header, entries or {})
    return path


def _entry(median: float, spec: OpSpec = SPEC) -> dict:
    return {spec.key(): {"spec": spec.to_dict(), "median_ms": median, "p10_ms": 0.1, "p90_ms": 0.2}}


class ReturnsBad:
    """A third-party cost that returns ``value`` for every op."""

    def __init__(self, value: float):
        self.value = value

    @hookimpl
    def rapdarts_cost_providers(self):
        return [CostProvider("bad", "u", "returns a bad number", lambda spec: self.value)]


def _search_fails_before_writing(tmp_path: Path, capsys, *args: str) -> str:
    runs = tmp_path / "runs"
    status = main(["search", "--profile", "tiny", "--device", "cpu", "--no-progress", "--runs-dir", str(runs), *args])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "internal error" not in err, err
    assert not runs.exists(), "a run directory was written for a search that could not start"
    return err


def test_nan_in_a_latency_table(tmp_path, capsys):
    table = _table(tmp_path / "t.json", _entry(0.5))
    data = json.loads(table.read_text())
    data["entries"][SPEC.key()]["median_ms"] = math.nan
    table.write_text(json.dumps(data))
    err = _search_fails_before_writing(tmp_path, capsys, "--cost", "latency=0.1", "--cost-option",
                                       f"latency.table={table}")
    assert f"latency table {table}: entry {SPEC.key()!r} has median_ms = nan" in err


def test_ops_missing_with_measure_never(tmp_path, capsys):
    table = _table(tmp_path / "t.json")
    err = _search_fails_before_writing(tmp_path, capsys, "--cost", "latency=0.1", "--cost-option",
                                       f"latency.table={table}", "--cost-option", "latency.measure=never")
    assert "is missing from latency table" in err


def test_the_same_for_a_budget(tmp_path, capsys):
    table = _table(tmp_path / "t.json")
    err = _search_fails_before_writing(tmp_path, capsys, "--budget", "latency=5ms", "--cost-option",
                                       f"latency.table={table}", "--cost-option", "latency.measure=never")
    assert "is missing from latency table" in err


@pytest.mark.parametrize("value, message", [(math.nan, "nan"), (-1.0, "-1.0"), (math.inf, "inf")])
def test_a_plugin_returning_a_bad_number(value, message, tmp_path):
    runs = tmp_path / "runs"
    for changes in ({"costs": {"bad": 0.1}}, {"budgets": {"bad": "10"}}):
        config = profile_config("tiny").updated({"device": "cpu", **changes})
        with pytest.raises(RapdartsError, match=f"cost 'bad'.*{message}") as error:
            search(config, runs_root=runs, plugins=[ReturnsBad(value)], show_progress=False)
        assert "\n" not in str(error.value) and "block-plugin ReturnsBad" in str(error.value)
        assert not runs.exists()


def test_the_cost_cache_is_keyed_by_the_providing_package(tmp_path):
    ours = CostProvider("params", "parameters", "built in", lambda spec: 1.0, version="1", package="rapdarts 0.1")
    theirs = CostProvider("params", "parameters", "a plugin", lambda spec: 2.0, version="1", package="acme-nas 3.0")
    first = CostCache(tmp_path)
    assert first.cost(theirs, SPEC) == 2.0
    first.flush([theirs])
    second = CostCache(tmp_path)  # a new process, reading the disk cache
    assert second.cost(ours, SPEC) == 1.0 and second.cost(theirs, SPEC) == 2.0
    assert second.cached == 1 and second.computed == 1
    assert len(list(tmp_path.glob("params-*.json"))) == 1 and "acme-nas" in next(tmp_path.glob("params-*")).name


def test_a_table_for_another_provider_cannot_validate_here(tmp_path, capsys):
    table = _table(tmp_path / "t.json", _entry(0.5), provider="CUDAExecutionProvider", device="another GPU box")
    status = main(["validate-latency", "--table", str(table), "--samples", "2", "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "cannot be timed here" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "v").exists()
    status = main(["cost", "DARTS_V2", "--measure", "--cost", "latency", "--cost-option", f"latency.table={table}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "another GPU box" in err and len(err.splitlines()) == 1, err


def test_asking_a_table_for_other_settings_is_an_error(tmp_path, capsys):
    table = _table(tmp_path / "t.json", _entry(0.5), provider="CUDAExecutionProvider")
    status = main(["cost", "DARTS_V2", "--cost", "latency", "--cost-option", f"latency.table={table}",
                   "--cost-option", "latency.provider=CPUExecutionProvider"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "was measured with provider 'CUDAExecutionProvider'" in err, err
    batch8 = _table(tmp_path / "b.json", _entry(0.5, OpSpec("sep_conv_3x3", 8, 8, 1, 8, 8, batch=8)), batch=8)
    status = main(["cost", "DARTS_V2", "--cost", "latency", "--cost-option", f"latency.table={batch8}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "measured at batch 8, but costs are asked at batch 1" in err, err


@pytest.mark.parametrize("change, message", [
    ({"provider": "FooExecutionProvider"}, "provider 'FooExecutionProvider' is not an ONNX Runtime execution"),
    ({"batch": 0}, "header batch = 0 must be an integer >= 1"),
    ({"intra_threads": "two"}, "header intra_threads = 'two'"),
    ({"dtype": "int8x"}, "dtype 'int8x' is not a tensor type"),
])
def test_malformed_table_headers(change, message, tmp_path):
    table = _table(tmp_path / "t.json", _entry(0.5), **change)
    with pytest.raises(RapdartsError, match=message):
        LatencyTable.load(table)


def test_an_entry_whose_spec_is_not_its_key(tmp_path):
    entries = _entry(0.5)
    entries[SPEC.key()]["spec"] = {**SPEC.to_dict(), "C_out": 16}
    with pytest.raises(RapdartsError, match="malformed spec"):
        LatencyTable.load(_table(tmp_path / "t.json", entries))


def test_a_surrogate_is_evaluated_only_on_tables_of_its_settings(tmp_path, capsys):
    specs = [OpSpec(op, c, c, 1, 8, 8) for op in ("sep_conv_3x3", "dil_conv_3x3") for c in (4, 8, 16)]
    entries = {}
    for index, spec in enumerate(specs):
        entries.update(_entry(0.1 * (index + 1), spec))
    own = _table(tmp_path / "own.json", entries)
    other = json.loads(own.read_text())
    other_header = copy.deepcopy(other["header"])
    other_header["intra_threads"] = 4
    write_table(tmp_path / "other.json", other_header, other["entries"])
    assert main(["surrogate", "fit", str(own), "--out", str(tmp_path / "s.json"), "--holdout", "0"]) == 0
    status = main(["surrogate", "evaluate", str(tmp_path / "s.json"), "--table", str(tmp_path / "other.json")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "was measured with intra_threads 4" in err, err
