"""``surrogate``: op latency (ms) predicted by a scikit-learn model fitted on a latency table.

For op specs no table holds: other widths, resolutions or batch sizes than were profiled. Needs
``--cost-option surrogate.model=FILE`` (made by ``rapdarts surrogate fit TABLE --out FILE``). The
per-call overhead and any calibration of the training table apply as for ``latency``.
"""

from __future__ import annotations

import threading

from rapdarts.costs import CostProvider, OpSpec
from rapdarts.errors import RapdartsError
from rapdarts.hookspecs import hookimpl
from rapdarts.latency.calibration import corrected_latency


class SurrogateCost:
    def __init__(self, options):
        self.path = options.get("surrogate.model")
        self._model = None
        self._features = None
        self._lock = threading.Lock()

    def cost(self, spec: OpSpec) -> float:
        from rapdarts.latency.surrogate import FeatureMaker, LatencySurrogate

        if spec.op == "none":
            return 0.0
        if not self.path:
            raise RapdartsError("the surrogate cost needs a model: --cost-option surrogate.model=FILE (make one with "
                                "'rapdarts surrogate fit TABLE --out FILE')")
        with self._lock:
            if self._model is None:
                self._model = LatencySurrogate.load(self.path)
                self._features = FeatureMaker()
            median = float(self._model.predict_specs([spec], self._features)[0])
        return corrected_latency(self._model.header, spec, median)


@hookimpl
def rapdarts_cost_providers(options):
    surrogate = SurrogateCost(options)
    return [CostProvider("surrogate", "ms", "latency predicted by a scikit-learn model fitted on a latency table",
                         surrogate.cost, version=str(surrogate.path), cacheable=False)]
