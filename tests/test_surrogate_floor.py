"""The measurement floor next to a surrogate's error: how well the op timings agree with themselves."""

from __future__ import annotations

import numpy as np
import pytest
from test_surrogate import SMALL, write_law_table

from rapdarts.cli import main
from rapdarts.costs.spec import OpSpec
from rapdarts.latency.surrogate import LatencySurrogate, evaluate
from rapdarts.latency.surrogate_design import Design
from rapdarts.latency.surrogate_floor import floor_stats, split_differences
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice import write_table
from rapdarts.ondevice.statistic import Timing


def test_the_ceiling_halves_the_difference_of_the_halves():
    stats = floor_stats(np.array([0.0, 0.08, 0.15, 0.25, np.nan]))
    assert stats["n"] == 4 and stats["halves_within_10pct"] == 0.5
    assert stats["ceiling_within_10pct"] == 0.75 and stats["ceiling_within_5pct"] == 0.5
    assert floor_stats(np.array([np.nan])) == {"n": 0}


def test_split_differences_compare_the_two_halves_of_the_sessions():
    steady = {"blocks_ms": [[1.0, 1.0]] * 8}
    drifting = {"blocks_ms": [[1.0, 1.0]] * 4 + [[1.3, 1.3]] * 4}
    differences = split_differences([steady, drifting, {"latency_ms": 1.0}])
    assert differences[0] == pytest.approx(0.0) and differences[1] == pytest.approx(0.3)
    assert np.isnan(differences[2])


def with_slow_halves(path):
    """Give every entry of a law table 8 sessions, every other one with its second half 30% slower."""
    table = LatencyTable.load(path)
    entries = {}
    for i, (key, entry) in enumerate(table.entries.items()):
        value = entry["latency_ms"]
        blocks = [[value] * 2] * 4 + [[value * (1.3 if i % 2 else 1.0)] * 2] * 4
        entries[key] = {**entry, "blocks_ms": blocks, "latency_ms": Timing(blocks_ms=blocks).latency_ms}
    write_table(path, table.header, entries)
    return path


@pytest.fixture()
def half_noisy_table(tmp_path):
    """Ops timed exactly by the law, every other one with its second half of sessions 30% slower."""
    return with_slow_halves(write_law_table(tmp_path / "unseen.json", Design(9, SMALL).take(40)))


def test_evaluate_reports_the_floor_and_the_error_on_steady_ops(tmp_path, half_noisy_table):
    sample = write_law_table(tmp_path / "sample.json", Design(1, SMALL).take(200))
    surrogate = LatencySurrogate.fit(LatencyTable.load(sample), kind="powerlaw")
    report = evaluate(surrogate, LatencyTable.load(half_noisy_table))
    floor = report["measurement_floor"]["overall"]
    n = report["overall"]["n"]
    assert floor["n"] == n and floor["halves_within_10pct"] == pytest.approx((n + 1) // 2 / n)
    assert floor["ceiling_within_10pct"] == floor["halves_within_10pct"]  # 30% apart: 15% from an exact model
    assert report["steady"]["overall"]["n"] == (n + 1) // 2
    table = LatencyTable.load(half_noisy_table)
    steady = [e for i, e in enumerate(table.entries.values()) if i % 2 == 0]
    predicted = surrogate.predict_specs([OpSpec(**e["spec"]) for e in steady])
    measured = np.array([e["latency_ms"] for e in steady])
    assert report["steady"]["overall"]["mape"] == pytest.approx(np.mean(np.abs(predicted / measured - 1)))
    assert set(report["measurement_floor"]["by_op"]) == set(report["by_op"])


def test_the_command_line_prints_the_floor(tmp_path, half_noisy_table, capsys):
    sample = with_slow_halves(write_law_table(tmp_path / "sample.json", Design(1, SMALL).take(200)))
    model = tmp_path / "model.json"
    assert main(["surrogate", "fit", str(sample), "--out", str(model), "--kind", "powerlaw"]) == 0
    assert "the sample's timings: two halves of each op's sessions agree within 10% for" in capsys.readouterr().out
    assert main(["surrogate", "evaluate", str(model), "--table", str(half_noisy_table)]) == 0
    out = capsys.readouterr().out
    assert "two halves of each op's sessions agree within 10%" in out and "steadily timed ops" in out
