"""Dual ascent on each budget's multiplier: the lambda of ``C_m <= B_m`` adapted after every alpha step.

Instead of a fixed lambda per cost (the paper sweeps lambda over 40 searches to find one under
budget), each budget gets a Lagrange multiplier updated by projected dual ascent after every
alpha step, as LightNAS does for latency (gradient ascent on ``LAT/T - 1``):

    mu_m <- max(0, mu_m + eta * (C_m / B_m - 1)),      lambda_m = mu_m / B_m.

``mu = lambda * B`` is dimensionless, so one step size ``eta`` (``budget_step``) serves parameters,
flops and milliseconds alike. The update is additive rather than in log space so that a budget
that is not binding lets its multiplier fall to exactly zero: the search is then the plain
accuracy search, and the architecture keeps as much capacity as the budget allows. It is made
once per alpha step (not per epoch) because alphas move by about one Adam step per step, whatever
the profile. The multipliers carry over from one P-DARTS stage to the next and are checkpointed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TRAJECTORY_POINTS = 64
"""At most this many (lambda, cost) points per epoch go into metrics.jsonl."""


def dual_step(multiplier: float, cost: float, budget: float, step: float) -> float:
    """Projected dual ascent on ``cost / budget - 1 <= 0``: the new multiplier ``mu`` (>= 0)."""
    return max(0.0, multiplier + step * (cost / budget - 1.0))


class DualAscent:
    """The multiplier ``mu`` of every budget, stepped on the expected cost each alpha step saw."""

    def __init__(self, budgets: Mapping[str, float], step: float, initial: float = 0.0):
        self.budgets = dict(budgets)
        self.step_size = step
        self.multipliers = {name: float(initial) for name in budgets}
        self._trajectory: dict[str, list[tuple[float, float]]] = {name: [] for name in budgets}

    def weight(self, name: str) -> float:
        """``lambda = mu / B``: the weight of the budget's cost term now."""
        return self.multipliers[name] / self.budgets[name]

    def step(self, name: str, cost: float) -> float:
        """One dual-ascent step of budget ``name`` on ``cost``; returns the new lambda."""
        self.multipliers[name] = dual_step(self.multipliers[name], cost, self.budgets[name], self.step_size)
        self._trajectory[name].append((self.weight(name), cost))
        return self.weight(name)

    def epoch_trajectory(self, name: str) -> dict[str, list[float]]:
        """The (thinned) per-step lambdas and costs since the last call, for the epoch's metrics line."""
        trajectory = self._trajectory[name]
        stride = max(1, math.ceil(len(trajectory) / TRAJECTORY_POINTS))
        self._trajectory[name] = []
        return {"step_lambda": [lam for lam, _ in trajectory[::stride]],
                "step_cost": [cost for _, cost in trajectory[::stride]]}

    def state_dict(self) -> dict[str, float]:
        return dict(self.multipliers)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.multipliers.update({name: float(value) for name, value in state.items()})
