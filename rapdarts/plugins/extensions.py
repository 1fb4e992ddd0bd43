"""The second extension surface: what a search extension may add to a progressive search.

Plugins (:mod:`rapdarts.plugins.hookspecs`) contribute *costs*; a :class:`SearchExtension` turns costs into
*penalties* inside one search: it adds loss terms to the alpha objective, watches every alpha step,
reports per-epoch metrics, may replace the final genotype, keeps state in the checkpoint and writes
files at the end. The built-in ones are :class:`rapdarts.costs.CostPenalty` (fixed lambdas) and
:class:`rapdarts.budget.BudgetPenalty` (budgets met by dual ascent); ``rapdarts.search(config,
extensions=[...])`` takes others.

Subclass :class:`SearchExtension` and override what you need: every method has a default that
does nothing, and the search calls all of them, in this order::

    prepare(shape)                          once, after the data is loaded, before anything is written
    load_state_dict(state)                  on resume, before the first stage is rebuilt
    loss_terms(model, stage)                when a stage's supernet is built
    after_alpha_step(model, parts)          after every alpha step
    epoch_metrics(model, genotype)          at every epoch end (merged into metrics.jsonl)
    state_dict()                            at every checkpoint
    final_genotype(model, candidates, g)    once, at the end of the last stage
    finish(run_dir, metrics)                once, after genotype.json is written
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from rapdarts.data import DataShape
    from rapdarts.space.genotype import Genotype
    from rapdarts.space.layout import Candidates
    from rapdarts.space.supernet import SearchNetwork


class LossTerm(Protocol):
    """A weighted penalty ``weight * value(model)`` added to the cross-entropy of alpha steps."""

    name: str
    weight: float

    def value(self, model: SearchNetwork) -> torch.Tensor:
        """A differentiable scalar in the term's own unit (parameters, ms...), typically of the alphas only."""
        ...


class SearchExtension(Protocol):
    """Adds loss terms, metrics and outputs to a search; see the module docstring for the call order."""

    def prepare(self, shape: DataShape) -> None:
        """Check the extension against the data the search runs on (``shape``: classes, channels, size).

        Raise :class:`rapdarts.RapdartsError` to reject the search before anything is written.
        """

    def loss_terms(self, model: SearchNetwork, stage: int) -> Sequence[LossTerm]:
        """Terms added to the alpha objective of the stage (0-based) that starts with ``model``."""
        return ()

    def after_alpha_step(self, model: SearchNetwork, parts: Mapping[str, torch.Tensor]) -> None:
        """Called after every alpha step with the objective's parts that step saw (detached, by term name)."""

    def epoch_metrics(self, model: SearchNetwork, genotype: Genotype) -> dict[str, Any]:
        """Extra JSON-serialisable values for the epoch's line of ``metrics.jsonl``."""
        return {}

    def final_genotype(self, model: SearchNetwork, candidates: Mapping[str, Candidates],
                       genotype: Genotype) -> Genotype:
        """The genotype the search ends with, given the one derived at the end of the last stage."""
        return genotype

    def state_dict(self) -> dict[str, Any] | None:
        """State saved in every checkpoint (``None``: nothing to save)."""
        return None

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (on resume)."""

    def finish(self, run_dir: Path, metrics: Sequence[Mapping[str, Any]]) -> None:
        """Write the extension's own outputs into the finished run directory."""
