"""What N seeds say: per seed its figures, and their spread, as the literature reports it.

Trainings: the test error of every seed and its mean ± standard deviation (P-DARTS reports
2.50 ± 0.08% over its runs, RAPDARTS 2.83 ± 0.05% over 8 seeds). The standard deviation is the
sample one (``n - 1`` in the denominator): the seeds are a sample of what the genotype does, and
with 3 to 8 of them the population formula would understate the spread.

Searches: how often the same genotype comes back (distinct genotypes by
:meth:`~rapdarts.space.genotype.Genotype.canonical_key`, most frequent first), and the spread of each
derived cost and of the search's final validation accuracy.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rapdarts.formatting import format_number, text_table
from rapdarts.storage.atomic import atomic_write_json, atomic_write_text
from rapdarts.storage.plotting import pyplot, save_figure


def spread(values: Sequence[float]) -> dict[str, Any]:
    """``n``, ``mean``, ``std`` (sample; ``None`` for one value), ``min`` and ``max`` of ``values``."""
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not values:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "min": min(values), "max": max(values)}


def describe_spread(stats: Mapping[str, Any], scale: float = 1.0, digits: int = 4, unit: str = "") -> str:
    """``2.83 ± 0.05% (n=8, 2.77-2.90)``: mean ± sample standard deviation, count and range."""
    if not stats["n"]:
        return "no values"
    def show(value: float) -> str:
        value *= scale
        if scale != 1.0:
            return f"{value:.{digits}f}"
        return f"{value:,.0f}" if abs(value) >= 10 ** digits else format_number(value, digits)
    std = "" if stats["std"] is None else f" ± {show(stats['std'])}"
    return f"{show(stats['mean'])}{std}{unit} (n={stats['n']}, {show(stats['min'])}-{show(stats['max'])})"


class SeedSummary:
    """The rows of a seed study (one per finished seed) and their aggregate; see :mod:`rapdarts.sweep.seeds`."""

    def __init__(self, path: Path, plan: Mapping[str, Any]):
        self.path = Path(path)
        self.plan = plan
        self.rows: dict[int, dict[str, Any]] = {}
        """Rows by seed."""

    @property
    def kind(self) -> str:
        return self.plan["kind"]

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["seed"]] = row

    @property
    def ordered(self) -> list[dict[str, Any]]:
        return [self.rows[seed] for seed in sorted(self.rows)]

    def cost_names(self) -> list[str]:
        """Derived costs every search has (trainings report their own figures instead)."""
        rows = self.ordered if self.kind == "search" else []
        return [n for n in (rows[0]["costs"] if rows else {}) if all(r["costs"].get(n) is not None for r in rows)]

    def aggregate(self) -> dict[str, Any]:
        rows = self.ordered
        if self.kind == "train":
            return {"test_error": spread([r["test_error"] for r in rows]),
                    "parameters": spread([r["parameters"] for r in rows])}
        genotypes = Counter(r["key"] for r in rows)
        return {"valid_acc": spread([r["valid_acc"] for r in rows]),
                "costs": {name: spread([r["costs"][name] for r in rows]) for name in self.cost_names()},
                "distinct_genotypes": len(genotypes),
                "genotype_counts": [{"count": count, "key": key, "seeds": [r["seed"] for r in rows if r["key"] == key],
                                     "summary": next(r["summary"] for r in rows if r["key"] == key)}
                                    for key, count in genotypes.most_common()]}

    def headline(self) -> str:
        """One line: mean ± std of the test error (trainings), or recurrence and spreads (searches)."""
        stats = self.aggregate()
        if self.kind == "train":
            return f"test error {describe_spread(stats['test_error'], 100, 2, '%')} over {len(self.rows)} seeds"
        top = stats["genotype_counts"][0]["count"] if stats["genotype_counts"] else 0
        recurrence = "each found once" if top <= 1 else f"the most frequent found {top} times"
        costs = "; ".join(f"{name} {describe_spread(s)}" for name, s in stats["costs"].items())
        return (f"{stats['distinct_genotypes']} distinct genotypes from {len(self.rows)} seeds ({recurrence}); "
                f"search accuracy {describe_spread(stats['valid_acc'])}; {costs}")

    def table(self) -> str:
        names = self.cost_names()
        if self.kind == "train":
            header = ["seed", "test err %", "parameters", "ORT ms", "run"]
            lines = [[str(r["seed"]), f"{100 * r['test_error']:.2f}", format_number(r["parameters"]),
                      "-" if r["onnx_latency_ms"] is None else f"{r['onnx_latency_ms']:.3f}", r["run"]]
                     for r in self.ordered]
        else:
            groups = {entry["key"]: i + 1 for i, entry in enumerate(self.aggregate()["genotype_counts"])}
            header = ["seed", "valid acc", *names, "genotype", "run"]
            lines = [[str(r["seed"]), f"{r['valid_acc']:.4f}", *(format_number(r["costs"][n], 4) for n in names),
                      f"#{groups[r['key']]} {r['summary']}", r["run"]] for r in self.ordered]
        return text_table(header, lines, right=set(range(len(header) - 2)))

    def csv(self) -> str:
        names = self.cost_names()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if self.kind == "train":
            writer.writerow(["seed", "test_error", "parameters", "onnx_latency_ms", "run"])
            writer.writerows([r["seed"], r["test_error"], r["parameters"], r["onnx_latency_ms"], r["run"]]
                             for r in self.ordered)
        else:
            writer.writerow(["seed", "valid_acc", *names, "genotype_key", "run"])
            writer.writerows([r["seed"], r["valid_acc"], *(r["costs"][n] for n in names), r["key"], r["run"]]
                             for r in self.ordered)
        return buffer.getvalue()

    def write(self) -> None:
        atomic_write_json(self.path / "summary.json", {"kind": self.kind, "seeds": self.plan["seeds"],
                                                       "headline": self.headline(), "aggregate": self.aggregate(),
                                                       "rows": self.ordered})
        atomic_write_text(self.path / "seeds.csv", self.csv())
        if self.rows:
            self.plot()

    def plot(self) -> Path:
        """Trainings: each seed's test error with the mean and ±1 std band. Searches: each seed's derived first cost
        against its search accuracy, one colour per distinct genotype."""
        plt = pyplot()
        from matplotlib.ticker import MaxNLocator

        figure, axis = plt.subplots(figsize=(6.4, 4.2))
        rows = self.ordered
        if self.kind == "train":
            stats = self.aggregate()["test_error"]
            axis.scatter([r["seed"] for r in rows], [100 * r["test_error"] for r in rows], zorder=3)
            axis.axhline(100 * stats["mean"], color="black", label=f"mean {100 * stats['mean']:.2f}%")
            if stats["std"] is not None:
                axis.axhspan(100 * (stats["mean"] - stats["std"]), 100 * (stats["mean"] + stats["std"]),
                             color="0.85", label=f"± std {100 * stats['std']:.2f}")
            axis.set(xlabel="seed", ylabel="test top-1 error (%)", title=self.headline())
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            name = (self.cost_names() or [None])[0]
            keys = list(dict.fromkeys(r["key"] for r in rows))
            for index, key in enumerate(keys):
                group = [r for r in rows if r["key"] == key]
                axis.scatter([r["costs"][name] if name else r["seed"] for r in group],
                             [100 * r["valid_acc"] for r in group], color=plt.cm.tab10(index % 10), zorder=3,
                             label=f"genotype #{index + 1} ({len(group)} seeds)")
            axis.set(xlabel=f"derived {name}" if name else "seed", ylabel="search validation accuracy (%)",
                     title=f"{len(keys)} distinct genotypes from {len(rows)} seeds")
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
        return save_figure(figure, self.path / "plots" / "seeds.png")
