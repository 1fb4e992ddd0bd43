"""Budgets as users type them: ``params=3M``, ``latency=4ms``, ``flops=400M flops``, in the provider's unit."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rapdarts.errors import RapdartsError
from rapdarts.formatting import format_number
from rapdarts.plugins.manager import Providers
from rapdarts.search.config import SearchConfig

SI_PREFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
TIME_UNITS_MS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "µs": 1e-3}


@dataclass(frozen=True)
class Budget:
    """``cost <= value`` for provider ``name`` (``value`` in the provider's unit; ``text`` as given)."""

    name: str
    value: float
    unit: str
    text: str

    def describe(self, value: float | None = None) -> str:
        return f"{format_number(self.value if value is None else value)} {self.unit}"


def parse_budget_value(name: str, text: str | float, unit: str) -> float:
    """``"3M"``, ``"3e6"``, ``"3M parameters"``, ``"4ms"`` -> a number in ``unit``, or a one-line error.

    An SI prefix (k, M, G, T) may precede the unit; the unit, if given, must be the provider's (its
    full name, its first word, or the cost name), and for time units s, ms and us convert.
    """
    raw = str(text).strip()
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(.*)", raw)
    if match is None:
        raise RapdartsError(f"budget {name}={raw!r}: expected a number with an optional unit, e.g. {name}=3M")
    number, rest = float(match[1]), match[2].strip()
    words = {unit, unit.split()[0], name}
    if rest in TIME_UNITS_MS and unit in TIME_UNITS_MS:
        value = number * TIME_UNITS_MS[rest] / TIME_UNITS_MS[unit]
    else:
        multiplier = 1.0
        if rest[:1] in SI_PREFIXES and rest not in words:
            multiplier, rest = SI_PREFIXES[rest[0]], rest[1:].strip()
        if rest and rest not in words:
            raise RapdartsError(f"budget {name}={raw!r}: {name} is measured in {unit}, not {rest!r}; give a plain "
                                f"number of {unit} (SI prefixes k, M, G allowed, e.g. {name}=3M)")
        value = number * multiplier
    if not value > 0 or not math.isfinite(value):
        raise RapdartsError(f"budget {name}={raw!r} must be a positive, finite number of {unit}")
    return value


def resolve_budgets(config: SearchConfig, providers: Providers) -> dict[str, Budget]:
    """The config's budgets with values in provider units; unknown names and conflicts are errors."""
    budgets = {}
    for name, text in config.budgets.items():
        provider = providers.get(name)
        if name in config.costs:
            raise RapdartsError(f"cost {name!r} has both a fixed lambda (--cost {name}={config.costs[name]:g}) and a "
                                f"budget (--budget {name}={text}); a budget adapts its own lambda: drop one of them")
        budgets[name] = Budget(name, parse_budget_value(name, text, provider.unit), provider.unit, str(text))
    if budgets and config.cost_target != "eval":
        raise RapdartsError("budgets apply to the evaluation network; --cost-target search cannot be combined "
                            "with --budget")
    return budgets
