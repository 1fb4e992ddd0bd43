"""A scikit-learn surrogate that predicts op latency for specs never measured.

Features of an op spec: its op type (one-hot), channels, resolution, stride, kernel, dilation,
batch, and three physical quantities: flops (fvcore, via the ``flops`` provider), parameters (the
``params`` provider) and bytes moved (input + output activations + weights). The target is the
log of the table's median time.

Two model kinds:

* ``powerlaw`` (default): ridge regression on log features with per-op-type slopes for log flops and
  log bytes, i.e. ``latency = a_op * flops^b_op * bytes^c_op * ...``; it extrapolates to widths,
  resolutions and batch sizes outside the training table, which tree models cannot.
* ``forest``: a random forest on the same features; often better inside the measured range.

Model files store the training data, not a pickle: loading refits the model (deterministic), so a
file never breaks across scikit-learn versions; when the version differs from the one that saved
it, loading warns and reports how much the refitted predictions moved (nn-Meter users' top
complaint was pickled predictors failing across versions).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.costs.cache import CostCache
from rapdarts.costs.flops import VERSION as FLOPS_VERSION
from rapdarts.costs.flops import op_flops
from rapdarts.costs.params import VERSION as PARAMS_VERSION
from rapdarts.costs.params import parameter_count
from rapdarts.costs.spec import FIXED_OPS, OpSpec
from rapdarts.errors import RapdartsError
from rapdarts.latency.op_latency import op_cost, op_group
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice.calibration import entry_time
from rapdarts.plugins.provider import CostProvider
from rapdarts.space.ops import derivable, is_zero
from rapdarts.storage.atomic import atomic_write_json

log = logging.getLogger("rapdarts")
FORMAT = "rapdarts-latency-surrogate/1"
KINDS = ("powerlaw", "forest")
NUMERIC = ("log_flops", "log_bytes", "log_params", "log_pixels", "log_c_in", "log_c_out", "stride", "kernel",
           "dilation", "log_batch")


def op_types() -> list[str]:
    return derivable() + list(FIXED_OPS)


def feature_names() -> list[str]:
    return list(NUMERIC) + [f"op={t}" for t in op_types()]


class FeatureMaker:
    """Turns op specs into feature rows (flops and params counted by rapdarts itself, cached on disk)."""

    def __init__(self) -> None:
        # Internal providers (never discovered), so the counts are cached on disk like any cost's.
        self.flops = CostProvider("surrogate-feature-flops", "flops", "", op_flops, FLOPS_VERSION)
        self.params = CostProvider("surrogate-feature-params", "parameters", "", parameter_count, PARAMS_VERSION)
        self.cache = CostCache()

    def numeric(self, spec: OpSpec) -> dict[str, float]:
        itemsize = 2 if spec.dtype in ("float16", "bfloat16") else 8 if spec.dtype == "float64" else 4
        params = self.cache.cost(self.params, spec)
        flops = self.cache.cost(self.flops, spec)
        out_h, out_w = spec.output_size
        moved = (spec.batch * (spec.C_in * spec.height * spec.width + spec.C_out * out_h * out_w) + params) * itemsize
        return {"log_flops": math.log1p(flops), "log_bytes": math.log1p(moved), "log_params": math.log1p(params),
                "log_pixels": math.log(spec.height * spec.width), "log_c_in": math.log(spec.C_in),
                "log_c_out": math.log(spec.C_out), "stride": float(spec.stride), "kernel": float(spec.kernel_size),
                "dilation": float(spec.dilation), "log_batch": math.log(spec.batch)}

    def rows(self, specs: Sequence[OpSpec]) -> np.ndarray:
        types = op_types()
        matrix = []
        for spec in specs:
            if spec.op not in types:
                raise RapdartsError(f"the surrogate knows no op {spec.op!r}")
            values = self.numeric(spec)
            matrix.append([values[n] for n in NUMERIC] + [1.0 if spec.op == t else 0.0 for t in types])
        self.cache.flush([self.flops, self.params])
        return np.asarray(matrix, dtype=float)


def _design(x: np.ndarray, kind: str) -> np.ndarray:
    """For the power law: add per-op-type slopes of log flops and log bytes (interaction terms)."""
    if kind != "powerlaw":
        return x
    one_hot = x[:, len(NUMERIC):]
    flops, moved = x[:, [0]], x[:, [1]]
    return np.hstack([x, one_hot * flops, one_hot * moved])


def _make_model(kind: str):
    if kind == "powerlaw":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=1e-2)
    if kind == "forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=300, min_samples_leaf=1, random_state=0, n_jobs=1)
    raise RapdartsError(f"unknown surrogate kind {kind!r}; choose {', '.join(KINDS)}")


@dataclass
class LatencySurrogate:
    """A fitted model plus the table header it was trained on (device, overhead, settings)."""

    kind: str
    header: dict[str, Any]
    x: np.ndarray
    y: np.ndarray
    keys: list[str]
    model: Any = None

    @classmethod
    def fit(cls, table: LatencyTable, kind: str = "powerlaw", keys: Sequence[str] | None = None) -> LatencySurrogate:
        keys = list(keys if keys is not None else table.entries)
        if len(keys) < 5:
            raise RapdartsError(f"latency table {table.path} has {len(keys)} entries; a surrogate needs at least 5")
        specs = [OpSpec(**table.entries[k]["spec"]) for k in keys]
        x = FeatureMaker().rows(specs)
        y = np.log(np.maximum([entry_time(table.entries[k]) for k in keys], 1e-6))
        surrogate = cls(kind, dict(table.header), x, y, keys)
        surrogate._train()
        return surrogate

    def _train(self) -> None:
        self.model = _make_model(self.kind)
        self.model.fit(_design(self.x, self.kind), self.y)

    def predict_specs(self, specs: Sequence[OpSpec], features: FeatureMaker | None = None) -> np.ndarray:
        """Predicted median latency (ms, including the per-call overhead like a table entry)."""
        x = (features or FeatureMaker()).rows(specs)
        return np.exp(self.model.predict(_design(x, self.kind)))

    def save(self, path: str | Path) -> Path:
        import sklearn

        data = {"format": FORMAT, "kind": self.kind, "features": feature_names(),
                "sklearn": sklearn.__version__, "table_header": self.header, "keys": self.keys,
                "x": self.x.tolist(), "y": self.y.tolist(),
                "fitted_predictions": self.model.predict(_design(self.x, self.kind)).tolist()}
        return atomic_write_json(path, data)

    @classmethod
    def load(cls, path: str | Path) -> LatencySurrogate:
        import sklearn

        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RapdartsError(f"surrogate model {path} does not exist; create it with 'rapdarts surrogate fit TABLE "
                                f"--out {path}'") from None
        except ValueError as error:
            raise RapdartsError(f"surrogate model {path} is corrupt ({error}); fit it again") from None
        if data.get("format") != FORMAT:
            raise RapdartsError(f"{path} is not a rapdarts latency surrogate")
        if data.get("features") != feature_names():
            raise RapdartsError(f"surrogate model {path} was made with other features; refit it with this version")
        surrogate = cls(data["kind"], data["table_header"], np.asarray(data["x"]), np.asarray(data["y"]), data["keys"])
        surrogate._train()
        if data["sklearn"] != sklearn.__version__:
            moved = np.abs(surrogate.model.predict(_design(surrogate.x, surrogate.kind))
                           - np.asarray(data["fitted_predictions"]))
            log.warning("surrogate %s was saved with scikit-learn %s, this is %s: refitted from its stored training "
                        "data (predictions moved by up to %.2f%%)", path, data["sklearn"], sklearn.__version__,
                        100 * float(np.expm1(moved.max())) if len(moved) else 0.0)
        return surrogate


def error_report(predicted: np.ndarray, measured: np.ndarray, ops: Sequence[str]) -> dict[str, Any]:
    """RMSE (ms), MAPE and share within +-10%, overall and per op type."""
    def stats(p: np.ndarray, m: np.ndarray) -> dict[str, float]:
        relative = np.abs(p - m) / m
        return {"n": int(len(m)), "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))), "mape": float(relative.mean()),
                "within_10pct": float((relative <= 0.10).mean())}

    ops = np.asarray(ops)
    report = {"overall": stats(predicted, measured), "by_op": {}}
    for op in sorted(set(ops.tolist())):
        mask = ops == op
        report["by_op"][op] = stats(predicted[mask], measured[mask])
    return report


def evaluate(surrogate: LatencySurrogate, table: LatencyTable, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Error of the surrogate on a table's entries (specs it did not train on, for a fair test)."""
    _check_same_settings(surrogate, table)
    keys = list(keys if keys is not None else table.entries)
    specs = [OpSpec(**table.entries[k]["spec"]) for k in keys]
    measured = np.asarray([entry_time(table.entries[k]) for k in keys])
    predicted = surrogate.predict_specs(specs)
    report = error_report(predicted, measured, [s.op for s in specs])
    report["unseen"] = int(sum(k not in set(surrogate.keys) for k in keys))
    return report


SURROGATE_KEYS = ("device", "provider", "intra_threads", "optimization", "dtype")
"""Header fields a test table must share with the surrogate's training table (batch may differ: the surrogate
extrapolates it)."""


def _check_same_settings(surrogate: LatencySurrogate, table: LatencyTable) -> None:
    for key in SURROGATE_KEYS:
        if table.header.get(key) != surrogate.header.get(key):
            raise RapdartsError(f"latency table {table.path} was measured with {key} {table.header.get(key)!r}, but "
                                f"the surrogate was fitted on a table measured with {surrogate.header.get(key)!r}; "
                                "evaluate it on a table of the same device and settings")


def holdout_split(keys: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    cut = int(round(len(keys) * (1 - share)))
    return [keys[i] for i in order[:cut]], [keys[i] for i in order[cut:]]


def save_report(path: str | Path, report: dict[str, Any]) -> None:
    atomic_write_json(path, report)


class SurrogateCost:
    """Op latency predicted by the surrogate model file ``path`` (loaded on first use)."""

    def __init__(self, path: str | None, option: str):
        self.path = path
        self.option = option
        self._model = None
        self._features = None
        self._lock = threading.Lock()

    def cost(self, spec: OpSpec) -> float:
        if is_zero(spec.op):
            return 0.0
        if not self.path:
            raise RapdartsError(f"the surrogate cost needs a model: --cost-option {self.option}=FILE (make one with "
                                "'rapdarts surrogate fit TABLE --out FILE')")
        with self._lock:
            if self._model is None:
                self._model = LatencySurrogate.load(self.path)
                self._features = FeatureMaker()
            median = float(self._model.predict_specs([spec], self._features)[0])
        entry = {"spec": spec.to_dict(), "group": op_group(spec), "latency_ms": median, "on_demand": True}
        return op_cost(self._model.header, entry)  # a shape nobody measured: the table's calibration does not apply


def surrogate_provider(name: str, options: Mapping[str, str], order: int = 100) -> CostProvider:
    """A latency cost called ``name``, predicted by the surrogate model of its ``NAME.model`` option."""
    option = f"{name}.model"
    surrogate = SurrogateCost(options.get(option), option)
    return CostProvider(name, "ms", "latency predicted by a scikit-learn model fitted on a latency table",
                        surrogate.cost, version=str(surrogate.path), cacheable=False, quantity="latency",
                        required_options=(option,), order=order)
