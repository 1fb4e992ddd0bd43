"""A learned latency model of one device: op latency for shapes nobody measured, and whole networks from it.

It learns from a *sample*: a latency table whose entries span op types, channels, resolutions,
strides and batch sizes (``rapdarts surrogate profile`` times a designed one,
:mod:`.surrogate_sample`; any latency table works too). Per op type it fits the model kind that
cross-validation prefers (:mod:`.surrogate_models`) on the features of :mod:`.surrogate_features`,
predicting the logarithm of the op's latency statistic. Whole networks are priced like a table
prices them, every op at the share of its time alone that it keeps inside a network (a ratio
learnt from chains of ops the profile timed, weighted by how much of the chains' saving the
calibration networks show, :mod:`.surrogate_context`), with per-op-group scales
fitted on whole networks the profile timed (:mod:`.surrogate_networks`), so ``--cost surrogate``
prices any target network.

Model files store the training data, the choice and the calibration, not a pickle: loading refits
the models (deterministic), so a file never breaks across scikit-learn versions; when the version
differs from the one that saved it, loading warns and reports how far the refitted predictions
moved (nn-Meter users' top complaint was pickled predictors failing across versions). A model
knows the device and timing settings its sample was measured with and refuses to be judged
against, or asked for, other ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.latency import surrogate_models as model_kinds
from rapdarts.latency.op_latency import op_cost
from rapdarts.latency.surrogate_context import ContextModel, context_data
from rapdarts.latency.surrogate_design import cell_channels, largest_activation
from rapdarts.latency.surrogate_features import FeatureMaker, feature_names
from rapdarts.latency.surrogate_floor import STEADY, measurement_floor, split_differences
from rapdarts.latency.surrogate_networks import (
    applied_scales,
    calibrate,
    fit_context_weight,
    group_totals,
    predicted_entry,
    why_not_applied,
)
from rapdarts.latency.table import LatencyTable
from rapdarts.ondevice import predict as predict_groups
from rapdarts.ondevice.calibration import entry_time
from rapdarts.space.genotype import Genotype
from rapdarts.storage.atomic import atomic_write_json

log = logging.getLogger("rapdarts")
FORMAT = "rapdarts-latency-surrogate/2"
KINDS = model_kinds.KINDS
SETTING_KEYS = ("device", "provider", "intra_threads", "optimization", "precision", "dtype")
"""What a measurement must share with the surrogate's sample to be compared with it or to be added to it (batch,
width and resolution may differ: that is what the surrogate predicts)."""


def check_same_settings(header: Mapping[str, Any], other: Mapping[str, Any], what: str) -> None:
    """A one-line error naming the first timing setting in which ``other`` (described by ``what``) differs."""
    for key in SETTING_KEYS:
        mine, theirs = header.get(key, "fp32" if key == "precision" else None), \
            other.get(key, "fp32" if key == "precision" else None)
        if mine != theirs:
            raise RapdartsError(f"{what} was measured with {key} {theirs!r}, but the surrogate was fitted on a "
                                f"sample measured with {mine!r}; use measurements of the same device and settings")


def sample_networks(table: LatencyTable) -> list[dict[str, Any]]:
    """The whole networks a surrogate profile timed alongside the sample (none for a plain table)."""
    return list((table.header.get("surrogate_sample") or {}).get("networks") or [])


@dataclass
class LatencySurrogate:
    """Fitted per-op-type models, what they were fitted on, the choice of kinds and the network calibration."""

    header: dict[str, Any]
    ops: list[str]
    keys: list[str]
    x: np.ndarray
    y: np.ndarray
    """Log of each sample's latency statistic (ms, per-call overhead included, like a table entry)."""
    kind: str = model_kinds.AUTO
    selection: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    region: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per op type, the range of cell channels, resolution, batch and largest activation it was fitted on."""
    sources: list[str] = field(default_factory=list)
    context_fit: dict[str, Any] | None = None
    """``{"index": rows of the samples timed as chains too, "ratio": their measured in-chain ratios}``
    (:mod:`.surrogate_context`); ``None``: no chains, ops are priced inside a network at their time alone."""
    models: dict[str, Any] = field(default_factory=dict, repr=False)
    context: ContextModel | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, tables: LatencyTable | Sequence[LatencyTable], kind: str = model_kinds.AUTO,
            keys: Sequence[str] | None = None, folds: int = 5, seed: int = 0,
            networks: Sequence[Mapping[str, Any]] | None = None) -> LatencySurrogate:
        """Fit on the entries (``keys``: a subset) of one or more tables of the same device and settings.

        ``kind`` ``auto`` chooses per op type by ``folds``-fold cross-validation; the calibration is fitted on
        ``networks`` (default: the networks the samples' profiles timed).
        """
        tables = [tables] if isinstance(tables, LatencyTable) else list(tables)
        if kind != model_kinds.AUTO:
            model_kinds.make_model(kind)  # an unknown kind is a one-line error before any work
        header = dict(tables[0].header)
        for table in tables[1:]:
            check_same_settings(header, table.header, f"latency table {table.path}")
        entries = {key: entry for table in tables for key, entry in table.entries.items()}
        wanted = list(keys if keys is not None else entries)
        if len(wanted) < 5:
            raise RapdartsError(f"{', '.join(str(t.path) for t in tables)}: {len(wanted)} entries; a surrogate needs "
                                "at least 5 (profile a sample: 'rapdarts surrogate profile')")
        specs = [OpSpec(**entries[key]["spec"]) for key in wanted]
        surrogate = cls(header, [spec.op for spec in specs], wanted, FeatureMaker().rows(specs),
                        np.log(np.maximum([entry_time(entries[key]) for key in wanted], 1e-6)), kind,
                        region=_region(specs), sources=[str(table.path) for table in tables])
        if kind == model_kinds.AUTO:
            surrogate.selection = model_kinds.select(surrogate.x, surrogate.y, surrogate.ops, folds=folds, seed=seed)
        else:
            counts = {op: surrogate.ops.count(op) for op in set(surrogate.ops)}
            surrogate.selection = {"choice": {op: model_kinds.usable_kind(kind, n) for op, n in sorted(counts.items())},
                                   "overall_kind": kind, "mode": "given"}
        index, ratios = context_data(wanted, entries, header.get("overhead_ms"))
        surrogate.context_fit = {"index": index, "ratio": ratios} if index else None
        surrogate._train()
        timed = list(networks) if networks is not None else [n for t in tables for n in sample_networks(t)]
        if surrogate.context_fit is not None:
            surrogate.context_fit["check"] = fit_context_weight(surrogate, timed) if timed else None
            surrogate.context_fit.setdefault("weight", 0.0)  # no whole networks: no evidence for the chains
        surrogate.calibration = calibrate(surrogate, timed) if timed else None
        return surrogate

    def _train(self) -> None:
        self.models = model_kinds.fit_per_op(self.x, self.y, self.ops, self.selection["choice"])
        self.context = None
        if self.context_fit:
            index = list(self.context_fit["index"])
            self.context = ContextModel(self.x[index], np.asarray(self.context_fit["ratio"], float),
                                        [self.ops[i] for i in index])

    @property
    def choice(self) -> dict[str, str]:
        return dict(self.selection["choice"])

    def _log_predict(self, x: np.ndarray, ops: Sequence[str]) -> np.ndarray:
        predicted = np.empty(len(ops))
        labels = np.asarray(ops)
        for op in set(ops):
            if op not in self.models:
                raise RapdartsError(f"the surrogate was fitted without any {op!r} op (sources: "
                                    f"{', '.join(self.sources) or '?'}); profile a sample that has it")
            mask = labels == op
            predicted[mask] = model_kinds.predict(self.models[op], x[mask])
        return predicted

    def predict_specs(self, specs: Sequence[OpSpec], features: FeatureMaker | None = None) -> np.ndarray:
        """Predicted latency statistic of each op timed alone (ms, per-call overhead included, like a table entry).

        Specs of the search network are priced as their evaluation-network op (the sample holds evaluation ops).
        """
        for spec in specs:
            if spec.dtype != self.header.get("dtype", "float32"):
                raise RapdartsError(f"the surrogate was fitted on {self.header.get('dtype')} ops, but "
                                    f"{spec.describe()} is asked for; profile a sample of that dtype")
        if not specs:
            return np.zeros(0)
        x = (features or FeatureMaker()).rows(specs)
        return np.exp(self._log_predict(x, [spec.op for spec in specs]))

    @property
    def context_weight(self) -> float:
        """The share of the boundary cost the chains measured that a network saves (:func:`fit_context_weight`)."""
        return float((self.context_fit or {}).get("weight", 0.0))

    def context_ratios(self, specs: Sequence[OpSpec], features: FeatureMaker | None = None) -> np.ndarray:
        """The share of each op's priced time alone that it costs inside a network: ``1 - w (1 - r)`` with ``r``
        the in-chain ratio and ``w`` :attr:`context_weight` (all 1 without chains or with ``w = 0``)."""
        if self.context is None or not specs or self.context_weight == 0.0:
            return np.ones(len(specs))
        ratios = self.context.predict((features or FeatureMaker()).rows(specs), [spec.op for spec in specs])
        ratios = 1.0 - self.context_weight * (1.0 - ratios)
        return np.where([spec.op == "stem" for spec in specs], 1.0, ratios)  # the stem is at the graph input

    def in_context(self, spec: OpSpec, latency_ms: float, ratio: float) -> float:
        """A table-entry latency (overhead included) that prices the op as it runs inside a network."""
        overhead = float(self.header.get("overhead_ms") or 0.0)
        if spec.op == "stem":
            return latency_ms
        return overhead + max(latency_ms - overhead, 0.0) * ratio

    def predicted_entries(self, specs: Sequence[OpSpec], context: bool = True) -> dict[str, dict[str, Any]]:
        """Table entries (by key) of ``specs`` with their predicted latencies inside a network (``context``) or
        alone."""
        features = FeatureMaker()  # one maker: its flops and params cache serves both predictions
        latencies = self.predict_specs(specs, features)
        ratios = self.context_ratios(specs, features) if context else np.ones(len(specs))
        return {spec.key(): predicted_entry(spec, self.in_context(spec, float(value), float(ratio)))
                for spec, value, ratio in zip(specs, latencies, ratios)}

    @property
    def cost_header(self) -> dict[str, Any]:
        """What :func:`rapdarts.latency.op_latency.op_cost` needs: the overhead and the calibration."""
        return {"overhead_ms": self.header.get("overhead_ms"), "calibration": self.calibration}

    def op_cost(self, spec: OpSpec, latency_ms: float, ratio: float = 1.0) -> float:
        """The calibrated cost (ms) inside a network of an op whose predicted time alone is ``latency_ms`` and whose
        in-context ratio is ``ratio`` (:meth:`context_ratios`)."""
        return op_cost(self.cost_header, predicted_entry(spec, self.in_context(spec, latency_ms, ratio)))

    def predict_network(self, genotype: Genotype, target: TargetNetwork, calibrated: bool = True,
                        context: bool = True) -> float:
        """The latency (ms) of ``genotype``'s network at ``target``: what ``--cost surrogate`` adds up
        (``context=False``: the sum of its ops timed alone, for comparison)."""
        scales = applied_scales(self.calibration) if calibrated else None
        return predict_groups(group_totals(self, genotype, target, context), scales)

    def outside(self, spec: OpSpec) -> str | None:
        """Why ``spec`` lies outside what the surrogate was fitted on (it then extrapolates), or ``None``."""
        region = self.region.get(spec.op)
        if region is None:
            return f"no {spec.op} op was sampled"
        values = _coordinates(spec)
        for name, (low, high) in region.items():
            if not low <= values[name] <= high:
                return f"{spec.describe()}: {name} {values[name]:g} outside the sampled {low:g}-{high:g}"
        return None

    def save(self, path: str | Path) -> Path:
        import sklearn

        data = {"format": FORMAT, "features": feature_names(), "sklearn": sklearn.__version__, "kind": self.kind,
                "table_header": self.header, "sources": self.sources, "selection": self.selection,
                "calibration": self.calibration, "region": self.region, "ops": self.ops, "keys": self.keys,
                "context": self.context_fit,
                "x": self.x.tolist(), "y": self.y.tolist(),
                "fitted_predictions": self._log_predict(self.x, self.ops).tolist()}
        return atomic_write_json(path, data)

    @classmethod
    def load(cls, path: str | Path) -> LatencySurrogate:
        """Read a model file and refit its models; missing, corrupt or foreign files are one-line errors."""
        import sklearn

        path = Path(path)
        data = _read(path)
        try:
            surrogate = cls(data["table_header"], list(data["ops"]), list(data["keys"]), np.asarray(data["x"], float),
                            np.asarray(data["y"], float), data["kind"], data["selection"], data["calibration"],
                            data["region"], list(data["sources"]), data.get("context"))
            rows = len(surrogate.ops)
            if surrogate.x.shape != (rows, len(feature_names())) or len(surrogate.y) != rows:
                raise ValueError("training data of inconsistent shape")
            surrogate._train()
        except (KeyError, TypeError, ValueError, IndexError) as error:  # IndexError: chains of rows it lacks
            raise RapdartsError(f"surrogate model {path} is corrupt ({error}); fit it again") from None
        if data["sklearn"] != sklearn.__version__:
            moved = np.abs(surrogate._log_predict(surrogate.x, surrogate.ops) - np.asarray(data["fitted_predictions"]))
            log.warning("surrogate %s was saved with scikit-learn %s, this is %s: refitted from its stored training "
                        "data (predictions moved by up to %.2f%%)", path, data["sklearn"], sklearn.__version__,
                        100 * float(np.expm1(moved.max())) if len(moved) else 0.0)
        return surrogate

    def describe(self) -> str:
        """One line: what the surrogate was fitted on and with which kinds."""
        kinds = sorted(set(self.choice.values()))
        h = self.header
        return (f"{len(self.ops)} samples of {len(set(self.ops))} op types measured on {h.get('device')} "
                f"({h.get('provider')}, {h.get('intra_threads')} thread(s), optimisation {h.get('optimization')}); "
                f"models: {self.selection.get('mode', '?')} ({', '.join(kinds)}); "
                + (f"ops in a network from {len(self.context.ops)} chains (weight {self.context_weight:.2f}); "
                   if self.context is not None else "")
                + self._calibration_state())

    def _calibration_state(self) -> str:
        if not self.calibration:
            return "uncalibrated (sums of ops timed alone)"
        if not applied_scales(self.calibration):
            return (f"uncalibrated: the scales fitted on {self.calibration['fitted_on']} whole networks "
                    f"{why_not_applied(self.calibration)}, so they are not applied")
        return f"calibrated on {self.calibration['fitted_on']} whole networks"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RapdartsError(f"surrogate model {path} does not exist; create it with 'rapdarts surrogate fit SAMPLE "
                            f"--out {path}'") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise RapdartsError(f"surrogate model {path} is corrupt ({error}); fit it again") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("rapdarts-latency-surrogate/"):
        raise RapdartsError(f"{path} is not a rapdarts latency surrogate")
    if data["format"] != FORMAT or data.get("features") != feature_names():
        raise RapdartsError(f"surrogate model {path} was made by another rapdarts version; fit it again with "
                            "'rapdarts surrogate fit'")
    return data


def model_version(path: str | Path) -> str:
    """A short digest of a model file (a provider's version: it changes when the file does)."""
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


def _coordinates(spec: OpSpec) -> dict[str, float]:
    return {"channels": cell_channels(spec), "resolution": max(spec.height, spec.width), "batch": spec.batch,
            "activation": largest_activation(spec)}


def _region(specs: Sequence[OpSpec]) -> dict[str, dict[str, list[float]]]:
    region: dict[str, dict[str, list[float]]] = {}
    for spec in specs:
        bounds = region.setdefault(spec.op, {})
        for name, value in _coordinates(spec).items():
            low, high = bounds.get(name, [value, value])
            bounds[name] = [min(low, value), max(high, value)]
    return region


def error_report(predicted: np.ndarray, measured: np.ndarray, ops: Sequence[str]) -> dict[str, Any]:
    """RMSE (ms), mean absolute percentage error and the shares within ±5% and ±10%, overall and per op type."""
    def stats(p: np.ndarray, m: np.ndarray) -> dict[str, float]:
        relative = np.abs(p - m) / m
        return {"n": int(len(m)), "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))), "mape": float(relative.mean()),
                "within_5pct": float((relative <= 0.05).mean()), "within_10pct": float((relative <= 0.10).mean())}

    ops = np.asarray(ops)
    report: dict[str, Any] = {"overall": stats(predicted, measured), "by_op": {}}
    for op in sorted(set(ops.tolist())):
        mask = ops == op
        report["by_op"][op] = stats(predicted[mask], measured[mask])
    return report


def evaluate(surrogate: LatencySurrogate, table: LatencyTable, keys: Sequence[str] | None = None,
             unseen_only: bool = False) -> dict[str, Any]:
    """Error of the surrogate on a table's entries (a table of the same device and settings; ``unseen_only``: only
    the shapes the surrogate was not fitted on), next to how well those timings agree with themselves
    (``measurement_floor``, :mod:`.surrogate_floor`) and the error on the steadily measured entries alone
    (``steady``), so a bad model can be told from a noisy machine."""
    check_same_settings(surrogate.header, table.header, f"latency table {table.path}")
    trained = set(surrogate.keys)
    keys = [k for k in (keys if keys is not None else table.entries) if not (unseen_only and k in trained)]
    if not keys:
        raise RapdartsError(f"latency table {table.path} has no entries to evaluate the surrogate on")
    specs = [OpSpec(**table.entries[k]["spec"]) for k in keys]
    measured = np.asarray([entry_time(table.entries[k]) for k in keys])
    predicted, ops = surrogate.predict_specs(specs), [s.op for s in specs]
    report = error_report(predicted, measured, ops)
    differences = split_differences([table.entries[k] for k in keys])
    report["measurement_floor"] = measurement_floor(differences, ops)
    steady = differences <= STEADY
    report["steady"] = error_report(predicted[steady], measured[steady], np.asarray(ops)[steady].tolist()) \
        if steady.any() else None
    report["unseen"] = int(sum(k not in trained for k in keys))
    report["outside_sample"] = int(sum(surrogate.outside(spec) is not None for spec in specs))
    return report


def holdout_split(keys: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    cut = int(round(len(keys) * (1 - share)))
    return [keys[i] for i in order[:cut]], [keys[i] for i in order[cut:]]


def save_report(path: str | Path, report: dict[str, Any]) -> None:
    atomic_write_json(path, report)
