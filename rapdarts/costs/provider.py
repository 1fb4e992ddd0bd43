"""CostProvider: a named, unit-bearing function from an op spec to a cost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rapdarts.costs.spec import OpSpec


@dataclass(frozen=True)
class CostProvider:
    """A resource cost of single ops, contributed by a plugin.

    ``cost(spec)`` must be a pure function of the spec returning a finite number >= 0 in ``unit``;
    ``version`` must change whenever the numbers would, because cached costs are keyed by it.
    ``package`` is filled in by discovery with the distribution that registered the plugin.
    """

    name: str
    unit: str
    description: str
    cost: Callable[[OpSpec], float]
    version: str = "1"
    package: str = ""
    plugin: str = ""
    cacheable: bool = True
    """False for providers that keep their own store (a latency table), so no second cache is kept."""

    @property
    def origin(self) -> str:
        """``plugin 'x' from package 'y 1.0'`` for error messages."""
        return f"plugin {self.plugin or '?'!r} from package {self.package or 'unknown'!r}"
