"""What a budget-targeted search reports at its end (``budgets.json``): per stage end, how well each
prediction tracked the derived cost; per budget, whether the final genotype meets it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rapdarts.budget.values import Budget


def budget_summary(metrics: Iterable[Mapping[str, Any]], budgets: Mapping[str, Budget],
                   repair: Mapping[str, Any] | None = None, timing_note: str = "") -> dict[str, Any]:
    """Per stage end and cost: derived cost, both predictions and their relative errors; final budget status.

    ``searched`` is the cost of the genotype the search derived, ``final`` the predicted cost of the
    genotype it ends with (after a repair, if one was made), ``measured`` the measured cost of that
    genotype where a measurer measured it. ``meets`` is judged on the prediction, or for a measured
    budget on the measurement with the margin its noise floor asks for: ``true``, ``false``, or
    ``null`` when the machine was too noisy to tell (``verdict`` says which and why).
    """
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
    measured = (repair or {}).get("measured") or {}
    verdicts = (repair or {}).get("verdicts") or {}
    for name, budget in budgets.items():
        searched = final.get("genotype_cost", {}).get(name)
        cost = repair["after"][name] if repair else searched
        judged = measured.get(name, cost)
        status[name] = {"budget": budget.value, "unit": budget.unit, "text": budget.text, "final": cost,
                        "measured": measured.get(name), "judged_on": "measured" if name in measured else "predicted",
                        "meets": judged is not None and judged <= budget.value,
                        "share_of_budget": judged / budget.value if judged is not None else None,
                        "searched": searched,
                        "meets_without_repair": searched is not None and searched <= budget.value,
                        "lambda": final.get("budgets", {}).get(name, {}).get("lambda")}
        if name in verdicts:  # a measured budget: met, missed, or undecided at the noise the run measured
            verdict = verdicts[name]
            status[name].update({"meets": verdict["meets"], "verdict": verdict["verdict"], "margin": verdict["margin"],
                                 "noise": verdict["noise"], "confidence": verdict["confidence"],
                                 "window": verdict["window"], "band_assured": verdict["band_assured"]})
    return {"budgets": status, "timing": timing_note or None, "repair": repair, "stage_ends": stage_ends}
