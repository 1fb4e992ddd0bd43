"""The model kinds the latency surrogate chooses from, one model per op type, and the choice by cross-validation.

Every model predicts the logarithm of an op's latency from :mod:`.surrogate_features`, so errors
are relative (what the ±5%/±10% targets count) and a power law is a linear model. One model per
op type, as nn-Meter builds one predictor per kernel type: within a type the kernel and
dilation are fixed and latency is a smooth function of channels, pixels and batch.

* ``powerlaw`` (:class:`PowerLaw`): ridge regression on the scaled features and, damped by
  :data:`CURVATURE`, their pairwise products and squares (a quadratic in the logarithms: a power
  law whose exponents drift with size, which is how a CPU moves from overhead-bound to
  compute-bound, but only as far as the data demand: a pure power law is recovered as one), the
  penalty and whether the quadratic terms are used chosen by leave-one-out (``RidgeCV``). It
  extrapolates smoothly.
* ``boosting``: ``HistGradientBoostingRegressor``.
* ``forest``: a random forest (nn-Meter's choice).
* ``boosted_powerlaw`` (:class:`BoostedPowerLaw`): the power law, and gradient boosting on what it leaves (its
  residuals). Trees predict a constant outside the region they saw and a power law misses the steps of a
  blocked kernel (channel counts that are multiples of 8 or 16, a resolution that fits a cache); together the
  law carries the trend to shapes between and beyond the samples and the trees learn the steps. Measured on a
  25-minute sample of an AMD EPYC host (2026-12-04, ``benchmarks/RESULTS.md``): unseen convolutions 80-91%
  within ±10% with boosting alone, 97% with the boosted power law.

:func:`select` fits each kind in K-fold cross-validation per op type and keeps the kind that is
best over all ops (``overall``), switching an op type to another kind only where that kind's
cross-validated error is clearly smaller (by :data:`SWITCH_MARGIN`), so the choice does not chase
fold noise. Op types with fewer than :data:`MIN_CV` samples get the power law without a vote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rapdarts.errors import RapdartsError

KINDS = ("powerlaw", "boosting", "forest", "boosted_powerlaw")
AUTO = "auto"
MIN_CV = 12
"""Fewest samples of an op type for a cross-validated choice (fewer: the power law, which needs least data)."""
MIN_FIT = 3
"""Fewest samples of an op type for a model of its shape; with fewer, its mean (``constant``)."""
MIN_CURVED = 30
"""Fewest samples for the power law to consider quadratic terms."""
EXTRAPOLATION = 2.0
"""How far (in log ms) outside the latencies it was fitted on a power law may predict."""
CURVATURE = 0.3
"""Weight of the power law's quadratic terms against its linear ones (see :func:`_damped`)."""
SWITCH_MARGIN = 0.9
"""An op type leaves the overall kind only for one whose cross-validated error is at most this share of it."""


def make_model(kind: str) -> Any:
    """A fresh, unfitted scikit-learn model of ``kind`` (deterministic: a refit gives the same model)."""
    if kind == "powerlaw":
        return PowerLaw()
    if kind == "boosting":
        return _boosting()
    if kind == "boosted_powerlaw":
        return BoostedPowerLaw()
    if kind == "constant":
        from sklearn.dummy import DummyRegressor

        return DummyRegressor()
    if kind == "forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=200, min_samples_leaf=1, max_features=0.7, random_state=0,
                                     n_jobs=1)
    raise RapdartsError(f"unknown surrogate kind {kind!r}; choose {AUTO} or one of {', '.join(KINDS)}")


def _boosting() -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=4,
                                         l2_regularization=1e-3, early_stopping=False, random_state=0)


def _damped(z: np.ndarray) -> np.ndarray:
    """The quadratic terms, shrunk: ridge then penalises their coefficients 1/CURVATURE**2 times as hard."""
    return CURVATURE * z


class PowerLaw:
    """Ridge regression on the scaled log features, plain (a power law) or with damped quadratic terms, whichever
    predicts its own samples better by leave-one-out (a handful of samples cannot support the quadratic terms);
    predictions are kept within :data:`EXTRAPOLATION` of the logarithms it was fitted on."""

    def __init__(self, curved: bool = True):
        self.curved = curved
        """Whether the quadratic terms are a candidate (``False``: a plain power law, the fastest to fit)."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> PowerLaw:
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures, StandardScaler

        alphas = np.logspace(-6, 3, 19)
        curvature = make_pipeline(StandardScaler(), PolynomialFeatures(2, include_bias=False), StandardScaler(),
                                  FunctionTransformer(_damped))
        candidates = [make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))]
        if self.curved and len(y) >= MIN_CURVED:
            candidates.append(make_pipeline(make_union(StandardScaler(), curvature), RidgeCV(alphas=alphas)))
        for candidate in candidates:
            candidate.fit(x, y)
        self.model = max(candidates, key=lambda model: model[-1].best_score_)
        self.low, self.high = float(y.min()) - EXTRAPOLATION, float(y.max()) + EXTRAPOLATION
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.clip(self.model.predict(x), self.low, self.high)


class BoostedPowerLaw:
    """The power law (:class:`PowerLaw`) plus gradient boosting fitted on its residuals (see the module docstring)."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> BoostedPowerLaw:
        self.law = PowerLaw().fit(x, y)
        self.steps = _boosting().fit(x, y - self.law.predict(x))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.law.predict(x) + self.steps.predict(x)


def single_threaded() -> Any:
    """Fits and predictions on one thread: gradient boosting's OpenMP threads stall for seconds on a machine whose
    other core is busy (and a profile must not disturb the timings it makes)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def fit_model(kind: str, x: np.ndarray, y: np.ndarray) -> Any:
    return _fitted(make_model(kind), x, y)


def plain_power_law(x: np.ndarray, y: np.ndarray) -> Any:
    """A plain power law (no quadratic terms): quick, for estimates of how long a configuration takes."""
    return _fitted(PowerLaw(curved=False) if len(y) >= MIN_FIT else make_model("constant"), x, y)


def _fitted(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    with single_threaded():
        model.fit(x, y)
    return model


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    with single_threaded():
        return model.predict(x)


def fold_predictions(kind: str, x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions of ``kind`` (each sample predicted by a model fitted without it)."""
    from sklearn.model_selection import KFold

    predicted = np.empty_like(y)
    for train, test in KFold(min(folds, len(y)), shuffle=True, random_state=seed).split(x):
        predicted[test] = predict(fit_model(kind, x[train], y[train]), x[test])
    return predicted


def scores(log_predicted: np.ndarray, log_measured: np.ndarray) -> dict[str, float]:
    """How close predictions are (both in log ms): mean absolute log error (the choice's criterion, about the
    mean relative error) and the shares within ±5% and ±10%."""
    relative = np.abs(np.expm1(log_predicted - log_measured))
    return {"n": int(len(log_measured)), "mean_abs_log_error": float(np.abs(log_predicted - log_measured).mean())
            if len(log_measured) else 0.0,
            "within_5pct": float((relative <= 0.05).mean()) if len(relative) else 0.0,
            "within_10pct": float((relative <= 0.10).mean()) if len(relative) else 0.0}


def cross_validate(x: np.ndarray, y: np.ndarray, ops: Sequence[str], kinds: Sequence[str] = KINDS, folds: int = 5,
                   seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """``{op: {kind: out-of-fold log predictions}}`` for the op types with at least :data:`MIN_CV` samples."""
    ops = np.asarray(ops)
    found: dict[str, dict[str, np.ndarray]] = {}
    for op in sorted(set(ops.tolist())):
        mask = ops == op
        if mask.sum() >= MIN_CV:
            found[op] = {kind: fold_predictions(kind, x[mask], y[mask], folds, seed) for kind in kinds}
    return found


def select(x: np.ndarray, y: np.ndarray, ops: Sequence[str], kinds: Sequence[str] = KINDS, folds: int = 5,
           seed: int = 0) -> dict[str, Any]:
    """Choose a kind per op type by K-fold cross-validation (see the module docstring).

    Returns ``{"choice": {op: kind}, "overall_kind", "mode", "folds", "cv": {op: {kind: scores}},
    "cv_overall": {kind: scores}}``; ``mode`` is ``overall`` when every op type kept the overall kind.
    """
    ops = list(ops)
    predictions = cross_validate(x, y, ops, kinds, folds, seed)
    labels = np.asarray(ops)
    cv = {op: {kind: scores(p, y[labels == op]) for kind, p in by_kind.items()} for op, by_kind in predictions.items()}
    pooled = {}
    for kind in kinds:
        if predictions:
            p = np.concatenate([predictions[op][kind] for op in predictions])
            m = np.concatenate([y[labels == op] for op in predictions])
            pooled[kind] = scores(p, m)
    overall = min(pooled, key=lambda kind: pooled[kind]["mean_abs_log_error"]) if pooled else "powerlaw"
    choice = {}
    for op in sorted(set(ops)):
        if op not in cv:
            choice[op] = usable_kind("powerlaw", int((labels == op).sum()))
            continue
        best = min(cv[op], key=lambda kind: cv[op][kind]["mean_abs_log_error"])
        keep = cv[op][best]["mean_abs_log_error"] < SWITCH_MARGIN * cv[op][overall]["mean_abs_log_error"]
        choice[op] = best if keep else overall
    switched = [op for op in cv if choice[op] != overall]
    return {"choice": choice, "overall_kind": overall, "mode": "per op type" if switched else "overall",
            "folds": folds, "cv": cv, "cv_overall": pooled,
            "chosen_cv": _chosen_scores(predictions, choice, y, labels)}


def _chosen_scores(predictions: Mapping[str, Mapping[str, np.ndarray]], choice: Mapping[str, str], y: np.ndarray,
                   labels: np.ndarray) -> dict[str, float]:
    """The cross-validated scores of the chosen kinds, pooled over the op types that were cross-validated (an
    optimistic figure: the choice saw these folds)."""
    if not predictions:
        return scores(np.zeros(0), np.zeros(0))
    p = np.concatenate([predictions[op][choice[op]] for op in predictions])
    m = np.concatenate([y[labels == op] for op in predictions])
    return scores(p, m)


def usable_kind(kind: str, samples: int) -> str:
    """``kind``, or ``constant`` for an op type with fewer than :data:`MIN_FIT` samples."""
    return kind if samples >= MIN_FIT else "constant"


def fit_per_op(x: np.ndarray, y: np.ndarray, ops: Sequence[str], choice: Mapping[str, str]) -> dict[str, Any]:
    """``{op: fitted model}`` with each op type's chosen kind, on all its samples."""
    labels = np.asarray(ops)
    return {op: fit_model(kind, x[labels == op], y[labels == op]) for op, kind in choice.items()}
