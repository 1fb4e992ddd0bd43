"""A sweep's results: one row per finished search, as JSON, CSV, a text table and a plot."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rapdarts.costs.cache import CostCache
from rapdarts.costs.table import genotype_costs
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.formatting import format_number
from rapdarts.plugins.provider import CostProvider
from rapdarts.space.genotype import Genotype
from rapdarts.space.ops import op_info
from rapdarts.storage.atomic import atomic_write_json, atomic_write_text

log = logging.getLogger("rapdarts")


def genotype_summary(genotype: Genotype) -> str:
    """Op counts of both cells, e.g. ``N sep3x4 skip2 max2 | R max5 dil3x3``."""
    parts = []
    for cell, label in (("normal", "N"), ("reduce", "R")):
        counts = Counter(op for op, _ in genotype.cell(cell)[0])
        parts.append(label + " " + " ".join(f"{op_info(op).label}x{n}" for op, n in counts.most_common()))
    return " | ".join(parts)


def sweep_costs(genotype: Genotype, providers: list[CostProvider], target: TargetNetwork,
                cache: CostCache) -> dict[str, float | None]:
    """The genotype's cost under every provider; a provider that cannot price it (a latency provider
    without a measured table, say) is reported once, dropped from ``providers`` and given ``None``."""
    costs: dict[str, float | None] = {}
    for provider in list(providers):
        try:
            costs.update(genotype_costs(genotype, [provider], target, cache))
        except RapdartsError as error:
            log.warning("cost %s is not reported for this sweep: %s", provider.name, error)
            providers.remove(provider)
    return costs


def result_row(sample: Mapping[str, Any], summary: Mapping[str, Any], providers: list[CostProvider],
               target: TargetNetwork, cache: CostCache, budgets: Mapping[str, Mapping[str, Any]]
               ) -> dict[str, Any]:
    """One finished search: lambda, seed, genotype, cost under every provider, budget flags."""
    genotype = Genotype.from_dict(summary["genotype"], f"{summary['run_dir']}/genotype.json")
    costs = sweep_costs(genotype, providers, target, cache)
    meets = {name: costs.get(name) is not None and costs[name] <= budget["value"] for name, budget in budgets.items()}
    return {"index": sample["index"], "round": sample["round"], "lambda": sample["lambda"], "seed": sample["seed"],
            "run": sample["run"], "costs": costs, "meets": meets, "meets_all": all(meets.values()),
            "valid_acc": summary.get("valid_acc"), "genotype": genotype.to_dict(),
            "summary": genotype_summary(genotype), "status": summary["status"], "worker_pid": summary["pid"]}


class SweepResults:
    """Rows by sample index, loaded from and written to ``results.json`` / ``results.csv``."""

    def __init__(self, path: Path, plan: Mapping[str, Any]):
        self.path = Path(path)
        self.plan = plan
        self.rows: dict[int, dict[str, Any]] = {}
        existing = self.path / "results.json"
        if existing.exists():
            try:
                self.rows = {row["index"]: row for row in json.loads(existing.read_text())["results"]}
            except (ValueError, KeyError, TypeError):
                self.rows = {}  # rebuilt from the run directories

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["index"]] = row

    @property
    def ordered(self) -> list[dict[str, Any]]:
        return [self.rows[index] for index in sorted(self.rows)]

    def best(self) -> dict[str, Any] | None:
        """The search meeting every budget with the highest swept cost (closest to the budget)."""
        cost = self.plan["cost"]
        meeting = [row for row in self.ordered if row["meets_all"] and row["costs"].get(cost) is not None]
        return max(meeting, key=lambda row: row["costs"][cost]) if meeting else None

    def write(self) -> None:
        rows = self.ordered
        best = self.best()
        atomic_write_json(self.path / "results.json", {
            "cost": self.plan["cost"], "budgets": self.plan["budgets"], "rounds": self.plan["rounds"],
            "best": best["index"] if best else None, "results": rows})
        atomic_write_text(self.path / "results.csv", self.csv())
        if rows:
            from rapdarts.sweep.plots import plot_cost_vs_lambda

            units = {name: self._unit(name) for name in self.cost_names() if all(r["costs"].get(name) is not None
                                                                                  for r in rows)}
            budgets = {name: b["value"] for name, b in self.plan["budgets"].items()}
            plot_cost_vs_lambda(rows, self.plan["cost"], budgets, units, self.path / "plots" / "cost_vs_lambda.png")

    def cost_names(self) -> list[str]:
        """Costs reported for at least one search, the swept one first."""
        names = dict.fromkeys([self.plan["cost"]])
        for row in self.ordered:
            names.update(dict.fromkeys(name for name, value in row["costs"].items() if value is not None))
        return list(names)

    def _unit(self, name: str) -> str:
        return self.plan.get("units", {}).get(name, name)

    def csv(self) -> str:
        rows = self.ordered
        names = self.cost_names()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["index", "round", "lambda", "seed", *names, *(f"meets_{n}" for n in self.plan["budgets"]),
                         "valid_acc", "run", "genotype"])
        for row in rows:
            writer.writerow([row["index"], row["round"], repr(row["lambda"]), row["seed"],
                             *(row["costs"].get(n) for n in names), *(row["meets"][n] for n in self.plan["budgets"]),
                             row["valid_acc"], row["run"], json.dumps(row["genotype"])])
        return buffer.getvalue()

    def table(self) -> str:
        """A text table for the terminal, sorted by lambda; ``*`` marks the best search under budget."""
        rows = sorted(self.ordered, key=lambda row: row["lambda"])
        names = self.cost_names()
        best = self.best()
        header = ["", "lambda", "seed", "round", *names, *(f"<= {n} budget" for n in self.plan["budgets"]),
                  "valid acc", "genotype (op counts)"]
        lines = [header]
        for row in rows:
            lines.append(["*" if best is not None and row["index"] == best["index"] else "", f"{row['lambda']:.3g}",
                          str(row["seed"]), str(row["round"]),
                          *("-" if row["costs"].get(n) is None else format_number(row["costs"][n], 4) for n in names),
                          *("yes" if row["meets"][n] else "NO" for n in self.plan["budgets"]),
                          "-" if row["valid_acc"] is None else f"{row['valid_acc']:.3f}", row["summary"]])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
