"""The report of a selection: one row per selected genotype, as a table, CSV, JSON and RAPDARTS' Figure 7.

Each row puts what the sweep predicted (the costs of the genotype on the network the sweep priced)
next to what training found: the trained model's exact parameter count, its test error, its
measured ONNX Runtime latency and every cost a provider measured (``latency`` with a table). The
best row is the lowest test error among the trained ones.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rapdarts.formatting import format_number, text_table
from rapdarts.storage.atomic import atomic_write_json, atomic_write_text
from rapdarts.train.report import key_figures

PLOT = "plots/error_vs_cost.png"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _number(value: float | None) -> str:
    return "-" if value is None else format_number(value, 4)


class SelectionReport:
    """The rows of a selection (:mod:`rapdarts.sweep.selection_run`), filled in as trainings finish."""

    def __init__(self, path: Path, plan: Mapping[str, Any]):
        self.path = Path(path)
        self.plan = plan
        self.summaries: dict[str, dict[str, Any]] = {}
        """Training summaries by candidate run folder (``runs/01``)."""

    def add(self, summary: Mapping[str, Any]) -> None:
        self.summaries[Path(summary["run_dir"]).relative_to(self.path).as_posix()] = dict(summary)

    def cost_names(self) -> list[str]:
        first = self.plan["candidates"][0]["costs"] if self.plan["candidates"] else {}
        return [name for name, value in first.items() if value is not None]

    def measured_names(self) -> list[str]:
        """Costs a provider measured for every trained model (e.g. ``latency`` with a table made here)."""
        measured = [self.rows_by_run[run]["measured"] for run in self.summaries]
        return [name for name in (measured[0] if measured else {}) if all(name in m for m in measured)]

    @property
    def rows_by_run(self) -> dict[str, dict[str, Any]]:
        return {row["run"]: row for row in self.rows()}

    def rows(self) -> list[dict[str, Any]]:
        """Per candidate in rank order: rank, run, searches, search accuracy, predicted costs, status and (once
        trained) test error, parameters, ONNX Runtime latency and measured costs."""
        rows = []
        for candidate in self.plan["candidates"]:
            summary = self.summaries.get(candidate["run"])
            figures = key_figures(summary["report"]) if summary else {
                "test_error": None, "parameters": None, "onnx_latency_ms": None, "measured": {},
                "train_seconds": None}
            rows.append({"rank": candidate["rank"], "run": candidate["run"], "summary": candidate["summary"],
                         "searches": candidate["searches"], "search_valid_acc": candidate["valid_acc"],
                         "predicted": candidate["costs"], "status": "trained" if summary else "not trained",
                         **figures, "genotype": candidate["genotype"]})
        return rows

    def row_of(self, run_dir: str | Path) -> dict[str, Any]:
        return self.rows_by_run[Path(run_dir).relative_to(self.path).as_posix()]

    def best(self) -> dict[str, Any] | None:
        """The trained row with the lowest test error (ties: the better rank)."""
        trained = [row for row in self.rows() if row["test_error"] is not None]
        return min(trained, key=lambda row: (row["test_error"], row["rank"])) if trained else None

    def write(self) -> None:
        rows, best = self.rows(), self.best()
        atomic_write_json(self.path / "selection.json", {
            "sweep": self.plan["sweep"], "budgets": self.plan["budgets"], "by": self.plan["by"],
            "top": self.plan["top"], "counts": self.plan["counts"], "best": best["rank"] if best else None,
            "rows": rows})
        atomic_write_text(self.path / "selection.csv", self.csv())
        if best is not None:
            self.plot()

    def csv(self) -> str:
        names, measured = self.cost_names(), self.measured_names()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["rank", "run", "searches", "search_valid_acc", *(f"predicted_{n}" for n in names),
                         "parameters", "test_error", "onnx_latency_ms", *(f"measured_{n}" for n in measured),
                         "status", "genotype"])
        for row in self.rows():
            writer.writerow([row["rank"], row["run"], " ".join(map(str, row["searches"])), row["search_valid_acc"],
                             *(row["predicted"].get(n) for n in names), row["parameters"], row["test_error"],
                             row["onnx_latency_ms"], *(row["measured"].get(n) for n in measured), row["status"],
                             json.dumps(row["genotype"])])
        return buffer.getvalue()

    def table(self) -> str:
        """A text table in rank order; ``*`` marks the best trained model."""
        names, measured = self.cost_names(), self.measured_names()
        best = self.best()
        header = ["", "rank", "searches", "search acc", *(f"predicted {n}" for n in names), "trained params",
                  "test err %", "ORT ms", *(f"measured {n}" for n in measured), "genotype (op counts)"]
        lines = []
        for row in self.rows():
            lines.append(["*" if best is not None and row["rank"] == best["rank"] else "", str(row["rank"]),
                          ",".join(map(str, row["searches"])), _number(row["search_valid_acc"]),
                          *(_number(row["predicted"].get(n)) for n in names), _number(row["parameters"]),
                          _percent(row["test_error"]), _number(row["onnx_latency_ms"]),
                          *(_number(row["measured"].get(n)) for n in measured), row["summary"]])
        return text_table(header, lines, right=set(range(1, len(header) - 1)))

    def _of_quantity(self, quantity: str) -> list[str]:
        """The sweep's costs that measure ``quantity`` (their providers declared it): the plot's axes."""
        return [name for name, declared in self.plan.get("quantities", {}).items() if declared == quantity]

    def plot(self) -> Path:
        """Fig. 7: trained test error against the trained model's parameters and against measured latency (a
        provider's measurement when one was made, else the ONNX Runtime latency), budgets drawn, best starred."""
        from rapdarts.train.plots import plot_comparison

        measured = self.measured_names()
        latencies, counts = self._of_quantity("latency"), self._of_quantity("parameters")
        timed = next((name for name in measured if name in latencies), None)
        units = self.plan.get("units", {})
        points = [{"name": f"#{row['rank']}", "error": row["test_error"], "parameters": row["parameters"],
                   "time": row["measured"].get(timed) if timed else row["onnx_latency_ms"]}
                  for row in self.rows() if row["status"] == "trained"]
        budgets = {panel: budget["value"] for name, budget in self.plan["budgets"].items()
                   for panel, names in (("parameters", counts), ("time", latencies)) if name in names}
        label = f"measured {timed} ({units.get(timed, '')})" if timed else "measured ONNX Runtime latency (ms)"
        best = self.best()
        counts = self.plan["counts"]
        title = (f"{counts['selected']} of {counts['meeting_budgets']} distinct genotypes meeting the budgets "
                 f"({counts['searches']} searches), trained")
        return plot_comparison(points, self.path / PLOT, label, budgets, f"#{best['rank']}" if best else None, title)
