"""What a budget-targeted search reports at its end (``budgets.json``): per stage end, how well each
prediction tracked the derived cost; per budget, whether the final genotype meets it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rapdarts.budget.values import Budget


def budget_summary(metrics: Iterable[Mapping[str, Any]], budgets: Mapping[str, Budget],
                   repair: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per stage end and cost: derived cost, both predictions and their relative errors; final budget status
    (``searched``: the genotype the search derived; ``final``: after a repair, if one was needed)."""
    rows = list(metrics)
    stage_ends = []
    for index, row in enumerate(rows):
        if index + 1 < len(rows) and rows[index + 1]["stage"] == row["stage"]:
            continue
        costs = {}
        for name, actual in row.get("genotype_cost", {}).items():
            predicted, expected = row["predicted_cost"][name], row["expected_cost"][name]
            costs[name] = {"derived": actual, "predicted": predicted, "expected": expected,
                           "predicted_error": predicted / actual - 1.0, "expected_error": expected / actual - 1.0}
        stage_ends.append({"stage": row["stage"], "costs": costs})
    final = rows[-1] if rows else {}
    status = {}
    for name, budget in budgets.items():
        searched = final.get("genotype_cost", {}).get(name)
        cost = repair["after"][name] if repair else searched
        status[name] = {"budget": budget.value, "unit": budget.unit, "text": budget.text, "final": cost,
                        "meets": cost is not None and cost <= budget.value, "searched": searched,
                        "meets_without_repair": searched is not None and searched <= budget.value,
                        "lambda": final.get("budgets", {}).get(name, {}).get("lambda")}
    return {"budgets": status, "repair": repair, "stage_ends": stage_ends}
