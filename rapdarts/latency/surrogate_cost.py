"""The surrogate as a cost: op latency inside a network, predicted for any shape, and the provider made of it.

A provider made by :func:`surrogate_provider` reads its options under its own name (``NAME.KEY``):

* ``NAME.model=FILE`` (required): a model file of ``rapdarts surrogate fit``.
* ``NAME.provider``, ``NAME.threads``, ``NAME.optimization``, ``NAME.precision``: the ONNX Runtime
  settings the costs are for; a model fitted on a sample timed with other ones is refused (one line).

An op costs what it costs in a table (:func:`rapdarts.latency.op_latency.op_cost`): its predicted
time alone minus the per-call overhead (counted once, with the stem), times the share of that it
keeps inside a network (:mod:`rapdarts.latency.surrogate_context`), times its group's calibration
scale; so an expected latency is still a weighted sum of per-op costs, at any width, resolution or
batch. Predictions are kept per spec, so a search's cost tables ask the models once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping

from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.latency.lookup import SETTING_OPTIONS
from rapdarts.latency.maker import target_specs
from rapdarts.latency.surrogate import LatencySurrogate, model_version
from rapdarts.latency.surrogate_features import FeatureMaker
from rapdarts.latency.surrogate_networks import applied_scales, why_not_applied
from rapdarts.plugins.provider import CostProvider
from rapdarts.space.ops import is_zero


class SurrogateCost:
    """Op latency predicted by the surrogate model file ``path`` (loaded on first use); thread-safe."""

    def __init__(self, path: str | None, option: str, requested: Mapping[str, str] | None = None):
        self.path = path
        self.option = option
        self.requested = dict(requested or {})
        """Header field -> the value the options ask for (checked against the model's sample)."""
        self._model: LatencySurrogate | None = None
        self._features: FeatureMaker | None = None
        self._predicted: dict[str, tuple[float, float]] = {}
        """Spec key -> (predicted time alone, in-context ratio)."""
        self._lock = threading.Lock()

    def model(self) -> LatencySurrogate:
        with self._lock:
            return self._load()

    def _load(self) -> LatencySurrogate:
        if self._model is None:
            if not self.path:
                raise RapdartsError(f"the surrogate cost needs a model: --cost-option {self.option}=FILE (make one "
                                    "with 'rapdarts surrogate profile --out S.json' and 'rapdarts surrogate fit "
                                    "S.json --out FILE')")
            model = LatencySurrogate.load(self.path)
            for field, wanted in self.requested.items():
                fitted = model.header.get(field, "fp32" if field == "precision" else None)
                if str(fitted) != str(wanted):
                    raise RapdartsError(f"surrogate model {self.path} was fitted on a sample measured with {field} "
                                        f"{fitted!r}, but {wanted!r} is asked for; profile and fit a sample with the "
                                        "matching setting or drop the option")
            self._model, self._features = model, FeatureMaker()
        return self._model

    def cost(self, spec: OpSpec) -> float:
        """The calibrated cost (ms) of one op inside a network."""
        if is_zero(spec.op):
            return 0.0
        priced = dataclasses.replace(spec, network="eval")  # the sample holds evaluation-network ops
        with self._lock:
            model = self._load()
            key = priced.key()
            if key not in self._predicted:
                self._predicted[key] = (float(model.predict_specs([priced], self._features)[0]),
                                        float(model.context_ratios([priced], self._features)[0]))
            return model.op_cost(priced, *self._predicted[key])

    def target_note(self, target: TargetNetwork) -> str | None:
        """What to know before pricing ``target``: an uncalibrated model, shapes outside the sample."""
        model = self.model()
        notes = []
        if not model.calibration:
            notes.append(f"surrogate model {self.path} is uncalibrated (sums of ops timed alone, no whole networks "
                         "were timed with its sample)")
        elif not applied_scales(model.calibration):
            notes.append(f"surrogate model {self.path} prices networks as sums of ops timed alone: its calibration "
                         f"{why_not_applied(model.calibration)} and is not applied")
        unseen = (model.calibration or {}).get("unseen_shape")
        if unseen:
            applied = bool(applied_scales(model.calibration))
            fit = unseen["agreement" if applied else "uncalibrated"]
            how = "its scales priced a calibration shape left out of their fit" if applied else \
                "its sums of ops priced the calibration networks"
            notes.append(f"{how} with mean |error| {fit['mean_abs_error']:.0%} ({fit['within_10pct']:.0%} within "
                         "10%): expect about that at a width or batch nobody profiled")
        outside = next((why for spec in target_specs(target) if (why := model.outside(spec))), None)
        if outside:
            notes.append(f"the {target.describe()} has ops outside the sample it was fitted on ({outside}): "
                         "extrapolated")
        if target.network == "search":
            notes.append("search-network ops are priced as their evaluation-network ops (the BN after a pool in the "
                         "search network is not counted)")
        return "; ".join(notes) or None


def surrogate_provider(name: str, options: Mapping[str, str], order: int = 100) -> CostProvider:
    """A latency cost called ``name``, predicted by the surrogate model of its ``NAME.model`` option."""
    option = f"{name}.model"
    requested = {field: options[f"{name}.{key}"] for key, field in SETTING_OPTIONS.items()
                 if f"{name}.{key}" in options}
    surrogate = SurrogateCost(options.get(option), option, requested)
    return CostProvider(name, "ms", "latency predicted by a scikit-learn model of this device, fitted on a designed "
                        "sample of op timings and calibrated on whole networks", surrogate.cost,
                        version=f"{surrogate.path}@{model_version(surrogate.path)}" if surrogate.path else "none",
                        cacheable=False, quantity="latency", required_options=(option,), order=order,
                        target_note=surrogate.target_note)
