"""Comparing runs: a table and a scatter plot of trained and searched runs, and the report's provider errors."""

from __future__ import annotations

import json

from rapdarts.cli import main
from rapdarts.costs import CostProvider, TargetNetwork, discover_providers
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.plugins.hookspecs import hookimpl
from rapdarts.space.genotype import preset
from rapdarts.train.report import cost_report, format_report, select_providers


def test_compare_a_trained_and_a_searched_run(tiny_training, tiny_search, tmp_path, capsys):
    plot, rows_file = tmp_path / "compare.png", tmp_path / "rows.json"
    assert main(["compare", str(tiny_training), str(tiny_search.run_dir), "--cost", "params", "--cost", "flops",
                 "--plot", str(plot), "--json", str(rows_file)]) == 0
    out = capsys.readouterr().out
    header, _, trained, searched = out.splitlines()[:4]
    assert header.split()[:5] == ["run", "kind", "test", "err", "%"] and "params" in header and "flops" in header
    report = json.loads((tiny_training / "report.json").read_text())
    assert trained.split()[:3] == ["run", "train", f"{100 * report['test']['error']:.2f}"]
    assert f"{report['parameters']['without_auxiliary']:,}" in trained
    assert searched.split()[1:3] == ["search", "-"] and "searched, not trained" in searched
    assert plot.stat().st_size > 5000
    rows = json.loads(rows_file.read_text())
    assert [row["kind"] for row in rows] == ["train", "search"]
    assert rows[0]["costs"]["params"]["value"] == report["costs"]["params"]["value"]
    assert rows[1]["test_error"] is None and rows[1]["costs"]["params"]["value"] > 0


def test_compare_rejects_missing_and_foreign_directories(tmp_path, capsys):
    for args, message in [
        ([str(tmp_path / "missing")], f"run directory {tmp_path / 'missing'} does not exist"),
        ([str(tmp_path)], "has no config.json; is it a rapdarts run directory?"),
    ]:
        status = main(["compare", *args, "--cost", "params"])
        err = capsys.readouterr().err.strip()
        assert status == 2 and message in err and len(err.splitlines()) == 1, err


class NeedsTable:
    """A provider that cannot answer without configuration, like a latency provider without its table."""

    @hookimpl
    def rapdarts_cost_providers(self):
        def cost(spec):
            raise RapdartsError("needs_table needs --cost-option needs_table.file=FILE")

        return [CostProvider("needs_table", "ms", "unconfigured", cost)]


def test_a_failing_provider_is_reported_not_fatal(tiny_training):
    discovered = discover_providers(plugins=[NeedsTable()])
    assert [p.name for p in select_providers((), discovered)][:2] == ["params", "flops"]  # usual order first
    providers = select_providers(("params", "flops", "needs_table"), discovered)
    target = TargetNetwork(DataShape(10, 1, (8, 8)), 4, 5)
    costs = cost_report(preset("PDARTS"), providers, target)
    assert costs["needs_table"] == {"error": "needs_table needs --cost-option needs_table.file=FILE", "unit": "ms",
                                    "package": "in-process"}
    report = json.loads((tiny_training / "report.json").read_text())
    assert costs["params"]["value"] == report["costs"]["params"]["value"]
    report["costs"] = costs
    table = format_report(report)
    assert "cost: needs_table" in table and "n/a  needs_table needs --cost-option" in table
