"""What the ``rapdarts_cost_providers`` hook returns: a named, unit-bearing cost of single ops, and what else the
provider can do, declared rather than known by name.

rapdarts never asks which provider a cost is: everything the built-in providers can do, a
third-party one declares the same way (NNI keeps the profiler that measures a cost apart from the
penalty that uses it; here the provider is the profiler):

* ``quantity`` says what the numbers are (``parameters``, ``flops``, ``latency``...): reports put
  parameters against latency by it, and a ``parameters`` cost is cross-checked against the model.
* ``required_options`` names the options without which it cannot price (a model file).
* ``measurer`` measures whole networks (latency on this machine, a board over SSH): budgets are
  then judged on the measurement, and reports show measured next to predicted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rapdarts.errors import RapdartsError

if TYPE_CHECKING:
    from rapdarts.costs.spec import OpSpec
    from rapdarts.costs.target import TargetNetwork
    from rapdarts.space.genotype import Genotype


@dataclass(frozen=True)
class Measurement:
    """One network's measured cost, in its provider's unit."""

    value: float
    noisy: bool = False
    """The measurement did not settle (its repeats disagreed more than the measurer accepts)."""
    spread: float = 0.0
    """How far apart the measurer's repeats of this network were, as a share of ``value``."""
    noise: float = 0.0
    """The noise floor measured alongside: the relative standard deviation of one such measurement on this machine
    now (0 when the measurer cannot tell). Budgets derive their safety margin from it."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Anything else worth recording (timings, settings), JSON-serialisable."""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "noisy": self.noisy, "spread": self.spread, "noise": self.noise,
                **dict(self.details)}


class Measurer(Protocol):
    """Measures the cost of whole networks, for a cost that can be measured (not only predicted from ops)."""

    def where(self) -> str:
        """Where and how networks are measured, in one line, for reports."""
        ...

    def unavailable(self) -> str | None:
        """Why networks cannot be measured here now (a table made on another device), or ``None`` when they can."""
        ...

    def measure(self, networks: Sequence[tuple[str, Genotype]], target: TargetNetwork) -> dict[str, Measurement]:
        """The measured cost of each named network, built at ``target``'s shape; networks measured in one call
        are measured together (interleaved), so a machine that drifts meanwhile moves them alike."""
        ...


def combined(measurer: Measurer, measurements: Sequence[Measurement]) -> Measurement:
    """One measurement from several of the same network: the measurer's own ``combine(measurements)`` when it
    has one (it can pool raw samples), else the median value, noisy if any was, the largest noise."""
    if len(measurements) == 1:
        return measurements[0]
    combine = getattr(measurer, "combine", None)
    if combine is not None:
        return combine(measurements)
    values = sorted(m.value for m in measurements)
    middle = len(values) // 2
    value = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return Measurement(value, any(m.noisy for m in measurements), (values[-1] - values[0]) / value,
                       max(m.noise for m in measurements))


@dataclass(frozen=True)
class CostProvider:
    """A resource cost of single ops, contributed by a plugin.

    ``cost(spec)`` must be a pure function of the spec returning a finite number >= 0 in ``unit``;
    ``version`` must change whenever the numbers would, because cached costs are keyed by it.
    ``package`` and ``plugin`` are filled in by discovery.
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
    quantity: str = ""
    """What the numbers measure, one word shared by every provider of that thing (``parameters``, ``flops``,
    ``latency``, ``energy``...)."""
    required_options: tuple[str, ...] = ()
    """Option keys the provider cannot price without (``model.file``): commands that price with every provider
    by default leave it out while one is missing."""
    measurer: Measurer | None = None
    """Measures whole networks (see :class:`Measurer`); ``None`` for costs that are only computed."""
    order: int = 100
    """Where the cost goes among report columns (lower first; ties by name)."""
    target_note: Callable[[TargetNetwork], str | None] | None = None
    """A warning about pricing ops of this network, or ``None`` (a latency table calibrated for another network says
    so); shown once before a search, a cost report or a training report prices with the provider."""
    options: tuple[tuple[str, str], ...] = ()
    """The options this provider was made with (filled in by discovery; they key the on-disk cache)."""

    @property
    def origin(self) -> str:
        """``plugin 'x' from package 'y 1.0'`` for error messages."""
        return f"plugin {self.plugin or '?'!r} from package {self.package or 'unknown'!r}"

    def missing_options(self, options: Mapping[str, str]) -> list[str]:
        """The ``required_options`` not given."""
        return [key for key in self.required_options if key not in options]


def target_notes(providers: Sequence[CostProvider], target: TargetNetwork) -> list[str]:
    """What the providers warn about pricing ``target`` (their ``target_note``), one line each."""
    notes = []
    for provider in providers:
        if provider.target_note is None:
            continue
        try:
            note = provider.target_note(target)
        except RapdartsError:
            continue  # a provider that cannot price at all says so when it prices
        except Exception as error:  # noqa: BLE001 - third-party code
            note = f"its target_note raised {type(error).__name__}: {error}"
        if note:
            notes.append(f"{provider.name}: {note}")
    return notes


def report_order(providers: Sequence[CostProvider]) -> list[CostProvider]:
    """Providers in the order reports show them: by declared ``order``, then by name."""
    return sorted(providers, key=lambda provider: (provider.order, provider.name))


def of_quantity(providers: Sequence[CostProvider], quantity: str) -> list[CostProvider]:
    """The providers that measure ``quantity``, in report order."""
    return [provider for provider in report_order(providers) if provider.quantity == quantity]
