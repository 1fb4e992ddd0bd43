"""``rapdarts surrogate profile``: time the designed sample of op configurations and a few whole networks, on a budget.

The sample is timed in *chunks* of about :data:`CHUNK_SECONDS`: each chunk's models (op
configurations, and early on whole calibration networks) are timed together in interleaved
rounds of fresh sessions (:func:`rapdarts.ondevice.time_models`, the latency statistic of
:mod:`rapdarts.ondevice.statistic`), so a machine that drifts moves them alike. Until
:data:`SPACE_FILLING_SHARE` of the budget is used, chunks come from the space-filling design
(:class:`~rapdarts.latency.surrogate_design.Design`); then every refill is an *adaptive round*:
a power law per op type is cross-validated on the sample so far, and new configurations are drawn
next to the ones it predicts worst (plus a quarter of fresh design points, so coverage keeps
growing). Each calibration network is timed in two chunks far apart (:data:`NETWORK_PASSES`), its
sessions pooled. A small reference network (:func:`~rapdarts.latency.surrogate_networks.reference_record`)
is timed in every chunk's rounds: how far its chunks drift apart is the machine's drift during the
profile (reported, not corrected), and its latency over the whole profile is what judging later
compares the machine with. One in :data:`~rapdarts.latency.surrogate_context.CHAIN_EVERY` of the
configurations that can be chained is also timed, in the same rounds, as a chain of copies of itself
(``chain_ms`` in its entry): what the op costs between neighbours (:mod:`.surrogate_context`).

The file is a latency table (``rapdarts-latency-table/5``, header from
:func:`rapdarts.ondevice.table_header`: device, ONNX Runtime, settings) whose entries span shapes
and batch sizes; ``header["surrogate_sample"]`` holds the design, the budget and the time used,
the configurations planned but not yet timed, the sessions of the chunk in progress, and the
calibration networks with their timings. It is written atomically after every round and locked
while a profile runs; the same command continues an interrupted sample, and a larger
``--minutes`` extends a finished one. The budget bounds wall time: no chunk starts that its
estimate says would overrun, and no session starts once the budget is spent (the chunk's finished
rounds are kept for a later run).
"""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rapdarts import ondevice
from rapdarts.costs.spec import OpSpec, build_module, example_input
from rapdarts.deploy.onnx_export import export_onnx
from rapdarts.errors import RapdartsError
from rapdarts.latency import surrogate_models as models
from rapdarts.latency.networks import network_model
from rapdarts.latency.op_latency import network_ops, op_group
from rapdarts.latency.surrogate import SETTING_KEYS
from rapdarts.latency.surrogate_context import CHAIN_LENGTH, chain_name, chosen_for_chain, export_chain
from rapdarts.latency.surrogate_design import Design, DesignRanges, neighbours
from rapdarts.latency.surrogate_features import FeatureMaker
from rapdarts.latency.surrogate_networks import (
    DEFAULT_VARIED,
    calibration_plan,
    genotype_of,
    reference_record,
    reference_summary,
    target_of,
)
from rapdarts.ondevice.calibration import entry_time
from rapdarts.ondevice.timing import Runner, session_times
from rapdarts.runtime.progress import progress_bar
from rapdarts.storage.locking import exclusive
from rapdarts.storage.paths import check_output
from rapdarts.version import __version__

log = logging.getLogger("rapdarts")
SAMPLE_FORMAT = "rapdarts-surrogate-sample/1"
DEFAULT_MINUTES = 25.0
SAMPLE_SESSIONS = 4
"""Fresh sessions per configuration (the profile's default): a regression averages neighbouring samples, so
twice as many configurations at half the sessions each are worth more than the reverse."""
CHUNK_SECONDS = 30.0
CHUNK_SHARE = 0.05
"""A chunk is at most this share of the budget (short budgets get short chunks)."""
FIRST_CHUNK = 24
"""Configurations in the first chunk (nothing is known yet to estimate their time)."""
SPACE_FILLING_SHARE = 0.55
"""Share of the budget for the space-filling design before adaptive rounds start."""
ADAPTIVE_AFTER = 50
"""Fewest configurations in the sample before adaptive rounds start."""
NETWORK_PASSES = 2
NETWORKS_PER_CHUNK = 3
DESIGN_BATCH = 32
"""Configurations taken from the design at a time."""
MIN_WORST = 8
"""An adaptive round adds neighbours of at least this many configurations (the worst predicted)."""
NEIGHBOURS = 2
ADAPTIVE_MIN = 8
"""Fewest samples of an op type for its cross-validated errors to steer an adaptive round."""
FRESH_SHARE = 0.25
SAVE_SECONDS = 10.0
"""Within a chunk, the sample is written after a round when this long has passed since the last write (a large
sample is megabytes of JSON); always after a chunk."""
ADAPTIVE_SECONDS = 60.0
"""An adaptive round adds neighbours of the worst predicted configurations until they are estimated to take this
long to time (so cross-validating between rounds stays a small part of the budget)."""
OVERHEAD = "call overhead"
"""The name the trivial model that measures the per-call overhead is timed under."""
GUESS_MS = 1.0
"""The time an op type without any sample yet is assumed to take, per run."""


_REFERENCE_MODELS: dict[str, tuple[bytes, Any]] = {}


class BudgetUsed(Exception):
    """Raised between rounds when the time budget is spent."""


def overhead_spec() -> OpSpec:
    """A trivial model (one element added to itself): timing it measures the fixed cost of ``session.run``."""
    return OpSpec("add", 1, 1, 1, 1, 1)


def export_op(spec: OpSpec) -> bytes:
    return export_onnx(build_module(spec), example_input(spec), what=f"op {spec.describe()}")


def op_input(spec: OpSpec) -> np.ndarray:
    shape = (spec.batch, spec.C_in, spec.height, spec.width)
    return np.random.default_rng(0).standard_normal(shape).astype(spec.dtype)


def new_state(seed: int, ranges: DesignRanges, varied: int) -> dict[str, Any]:
    networks = [{**record, "blocks_ms": [], "passes": 0, "latency_ms": None, "noisy": False}
                for record in calibration_plan(varied, seed)]
    return {"format": SAMPLE_FORMAT, "seed": seed, "ranges": ranges.to_dict(), "design_position": 0,
            "budget_s": 0.0, "elapsed_s": 0.0, "pending": [], "partial": {}, "networks": networks, "rounds": [],
            "chunks": 0, "model_seconds": 0.12, "finished": False, "reference": reference_record()}


def open_sample(out: Path, settings: ondevice.TimingSettings, seed: int, ranges: DesignRanges,
                varied: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and entries of the sample ``out``: continued when it is one of this machine, settings and design,
    new when ``out`` does not exist, a one-line error otherwise."""
    if not out.exists():
        header = ondevice.table_header(settings, 1, "float32", 0, f"rapdarts surrogate profile ({__version__})")
        header["surrogate_sample"] = new_state(seed, ranges, varied)
        header["complete"] = True  # every entry is a finished measurement; the sample's own state says the rest
        return header, {}
    try:
        data = json.loads(out.read_text())
        header, entries = data["header"], data["entries"]
        state = header["surrogate_sample"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RapdartsError(f"{out} exists and is not a surrogate sample; profile into another file") from None
    if not isinstance(state, dict) or state.get("format") != SAMPLE_FORMAT:
        raise RapdartsError(f"{out} is a surrogate sample of another rapdarts version; profile into another file")
    if not ondevice.measured_here(header):
        raise RapdartsError(f"surrogate sample {out} was measured on {header.get('device')} (ONNX Runtime "
                            f"{header.get('onnxruntime')}), not on this machine: it cannot be extended here; profile "
                            "into another file")
    wanted = {**settings.to_dict(), "dtype": "float32"}
    for key in (*SETTING_KEYS, "inter_threads", "warmup", "repeats", "sessions", "block"):
        if key in wanted and header.get(key) != wanted[key]:
            raise RapdartsError(f"surrogate sample {out} is timed with {key} {header.get(key)!r}, not {wanted[key]!r}: "
                                "continue it with its own settings or profile into another file")
    if state["seed"] != seed or DesignRanges.from_dict(state["ranges"]) != ranges:
        raise RapdartsError(f"surrogate sample {out} follows the design of seed {state['seed']} over "
                            f"{state['ranges']}: continue it with the same design options or profile into another file")
    return header, entries


@dataclass
class Chunk:
    specs: list[OpSpec]
    networks: list[int]
    """Indices into the sample's calibration networks."""
    overhead: bool
    estimate_s: float


@dataclass
class SampleProfiler:
    """One run of a profile: times chunks into the sample at ``path`` until its budget is spent."""

    path: Path
    header: dict[str, Any]
    entries: dict[str, Any]
    settings: ondevice.TimingSettings
    work: Path
    runner: Runner = session_times
    clock: Callable[[], float] = time.monotonic
    bar: Any = None
    features: FeatureMaker = field(default_factory=FeatureMaker)
    _rows: dict[str, np.ndarray] = field(default_factory=dict)
    _quick: dict[str, Any] = field(default_factory=dict)
    _inputs: dict[int, np.ndarray] = field(default_factory=dict)
    _shown: int = 0
    _saved: float = -math.inf

    def __post_init__(self) -> None:
        self.state = self.header["surrogate_sample"]
        self.state.setdefault("reference", reference_record())  # a sample begun before the reference existed
        self.ranges = DesignRanges.from_dict(self.state["ranges"])
        self.design = Design(self.state["seed"], self.ranges, position=self.state["design_position"])
        self.started = self.clock()
        self.before = float(self.state["elapsed_s"])
        if self.entries:
            self._refit_quick()  # a continued sample: estimates from what it holds

    # -- time and budget --------------------------------------------------------------------------------------
    def used(self) -> float:
        return self.before + self.clock() - self.started

    def remaining(self) -> float:
        return self.state["budget_s"] - self.used()

    def save(self) -> None:
        self._saved = self.clock()
        self.state["elapsed_s"] = self.used()
        self.header["entries_expected"] = len(self.entries)
        ondevice.write_table(self.path, self.header, self.entries)
        if self.bar is not None:
            self.bar.update(max(0, int(min(self.used(), self.state["budget_s"])) - self._shown))
            self._shown = int(min(self.used(), self.state["budget_s"]))
            done = sum(bool(n["blocks_ms"]) for n in self.state["networks"])
            self.bar.set_postfix(samples=len(self.entries), networks=f"{done}/{len(self.state['networks'])}")

    def run(self) -> str:
        """Time chunks until the budget is spent; why it stopped (``budget`` or ``nothing left``)."""
        self._shown = int(min(self.before, self.state["budget_s"]))
        self.state["finished"] = False
        while True:
            chunk = self.next_chunk()
            if chunk is None:
                reason = "budget" if self.state["pending"] or self._due_networks() else "nothing left"
                break
            try:
                self.time_chunk(chunk)
            except BudgetUsed:
                reason = "budget"
                break
            except KeyboardInterrupt:
                self.save()  # the rounds timed so far, for the same command to continue
                raise
        self.state["finished"] = True
        self.save()
        return reason

    # -- what to time next --------------------------------------------------------------------------------------
    def next_chunk(self) -> Chunk | None:
        first = not self.entries
        estimate = 0.0
        nets = self._due_networks()
        estimate += sum(self._network_seconds(i) for i in nets)
        specs: list[OpSpec] = []
        index = 0
        length = min(CHUNK_SECONDS, CHUNK_SHARE * self.state["budget_s"])
        while (len(specs) < FIRST_CHUNK) if first else (estimate < length):
            if index >= len(self.state["pending"]) and not self.refill():
                break
            spec = OpSpec(**self.state["pending"][index])
            index += 1
            seconds = self._spec_seconds(spec)
            if estimate + seconds > self.remaining() and not first:
                break
            specs.append(spec)
            estimate += seconds
        if (not specs and not nets) or (estimate > self.remaining() and not first):
            return None
        return Chunk(specs, nets, self.header.get("overhead_ms") is None, estimate)

    def _due_networks(self) -> list[int]:
        networks = self.state["networks"]
        due: list[int] = []
        for passed in range(NETWORK_PASSES):
            for index, record in enumerate(networks):
                if record["passes"] <= passed and index not in due and len(due) < NETWORKS_PER_CHUNK:
                    due.append(index)
            if due:
                break
        return due

    def refill(self) -> bool:
        """Plan more configurations: design points, or an adaptive round; whether any were added."""
        known = set(self.entries) | {OpSpec(**s).key() for s in self.state["pending"]}
        adaptive = self.used() >= SPACE_FILLING_SHARE * self.state["budget_s"] and len(self.entries) >= ADAPTIVE_AFTER
        added = self._adaptive(known) if adaptive else []
        fresh = self.design.take(max(1, int(FRESH_SHARE * len(added))) if added else DESIGN_BATCH)
        added += [spec for spec in fresh if spec.key() not in known]
        self.state["design_position"] = self.design.position
        self.state["pending"] += [spec.to_dict() for spec in added]
        if self._quick:
            self._matrix(added)  # their features in one go (one write of the flops cache)
        return bool(added)

    def _adaptive(self, known: set[str]) -> list[OpSpec]:
        """Neighbours of the configurations a cross-validated power law predicts worst."""
        keys = list(self.entries)
        specs = [OpSpec(**self.entries[k]["spec"]) for k in keys]
        x, y, ops = self._matrix(specs), self._targets(keys), [s.op for s in specs]
        predicted, judged = y.copy(), np.zeros(len(keys), bool)
        labels = np.asarray(ops)
        for op in set(ops):
            mask = labels == op
            if mask.sum() >= ADAPTIVE_MIN:
                predicted[mask] = models.fold_predictions("powerlaw", x[mask], y[mask], 3, 0)
                judged |= mask
        errors = np.abs(predicted - y)
        worst = [i for i in np.argsort(-errors) if judged[i]]
        rng = random.Random(self.state["seed"] * 7919 + len(self.state["rounds"]))
        added: list[OpSpec] = []
        seconds = 0.0
        for rank, i in enumerate(worst):
            if rank >= MIN_WORST and seconds >= min(ADAPTIVE_SECONDS, CHUNK_SHARE * self.state["budget_s"] * 2):
                break
            found = neighbours(specs[i], NEIGHBOURS, rng, self.ranges, known)
            seconds += sum(self._spec_seconds(spec) for spec in found)
            added += found
        cv = models.scores(predicted[judged], y[judged]) if judged.any() else {}
        self.state["rounds"].append({"round": len(self.state["rounds"]), "samples": len(keys),
                                     "elapsed_s": round(self.used(), 1), "powerlaw_cv": cv,
                                     "worst": [keys[i] for i in worst[:10]], "added": len(added)})
        log.debug("surrogate profile: adaptive round %d on %d samples, power law CV %s, %d neighbours",
                  len(self.state["rounds"]), len(keys), cv, len(added))
        return added

    # -- estimates -------------------------------------------------------------------------------------------------
    def _matrix(self, specs: Sequence[OpSpec]) -> np.ndarray:
        missing = [s for s in specs if s.key() not in self._rows]
        if missing:
            for spec, row in zip(missing, self.features.rows(missing)):
                self._rows[spec.key()] = row
        return np.asarray([self._rows[s.key()] for s in specs]).reshape(len(specs), -1)

    def _targets(self, keys: Sequence[str]) -> np.ndarray:
        return np.log(np.maximum([entry_time(self.entries[k]) for k in keys], 1e-6))

    def _refit_quick(self) -> None:
        """Power laws per op type on the sample so far, for estimates of how long configurations take."""
        keys = list(self.entries)
        specs = [OpSpec(**self.entries[k]["spec"]) for k in keys]
        labels = np.asarray([s.op for s in specs])
        x, y = self._matrix(specs), self._targets(keys)
        self._quick = {op: models.plain_power_law(x[labels == op], y[labels == op]) for op in set(labels.tolist())}

    def _predicted_ms(self, specs: Sequence[OpSpec]) -> np.ndarray:
        if not self._quick or not specs:
            return np.full(len(specs), GUESS_MS)
        x = self._matrix(specs)
        return np.asarray([float(np.exp(models.predict(self._quick[s.op], x[i:i + 1])[0])) if s.op in self._quick
                           else GUESS_MS for i, s in enumerate(specs)])

    def _runs(self) -> int:
        s = self.settings
        return (s.sessions + s.extra_sessions // 2) * (s.warmup + s.repeats)

    def _spec_seconds(self, spec: OpSpec) -> float:
        models = 2 if chosen_for_chain(spec) else 1
        runs_ms = (1 + CHAIN_LENGTH * (models - 1)) * float(self._predicted_ms([spec])[0])
        return self._runs() * runs_ms / 1e3 + models * self.state["model_seconds"]

    def _network_seconds(self, index: int) -> float:
        record = self.state["networks"][index]
        if record["latency_ms"] is not None:
            per_run = record["latency_ms"]
        else:
            target, genotype = target_of(record), genotype_of(record)
            specs = {s.key(): s for s in target.genotype_specs(genotype)}
            counts = network_ops(target, genotype)
            keys = list(counts)
            per_run = float(np.dot(self._predicted_ms([specs[k] for k in keys]), [counts[k] for k in keys])) \
                if self._quick else 20.0 * target.batch
        return self._runs() * per_run / 1e3 + 2.0  # about two seconds to build and export it

    # -- timing -------------------------------------------------------------------------------------------------------
    def _reference_input(self) -> tuple[bytes, np.ndarray]:
        record = self.state["reference"]
        key = json.dumps([record["target"], record["genotype"]], sort_keys=True)
        if key not in _REFERENCE_MODELS:  # exported once per process: every chunk and every continued run times it
            _REFERENCE_MODELS[key] = network_model(genotype_of(record), target_of(record))
        return _REFERENCE_MODELS[key]

    def _network_input(self, index: int) -> tuple[Path, np.ndarray]:
        path = self.work / f"network-{index}.onnx"
        if not path.exists():
            record = self.state["networks"][index]
            data, inputs = network_model(genotype_of(record), target_of(record))
            path.write_bytes(data)
            self._inputs[index] = inputs
        return path, self._inputs[index]

    def time_chunk(self, chunk: Chunk) -> None:
        """Time one chunk in interleaved rounds; record its entries, networks and the overhead; save."""
        start = self.clock()
        named: list[tuple[str, Any, np.ndarray]] = [(spec.key(), export_op(spec), op_input(spec))
                                                    for spec in chunk.specs]
        chained = [spec for spec in chunk.specs if chosen_for_chain(spec)]
        named += [(chain_name(spec.key()), export_chain(spec), op_input(spec)) for spec in chained]
        networks = {f"network:{self.state['networks'][i]['name']}": i for i in chunk.networks}
        named += [(name, *self._network_input(i)) for name, i in networks.items()]
        if chunk.overhead:
            named.append((OVERHEAD, export_op(overhead_spec()), op_input(overhead_spec())))
        reference = self.state["reference"]
        named.append((reference["name"], *self._reference_input()))

        def on_round(samples: dict[str, list[list[float]]]) -> None:
            self.state["partial"] = samples
            if self.clock() - self._saved >= SAVE_SECONDS:
                self.save()

        def guarded(model: Any, inputs: np.ndarray, settings: ondevice.TimingSettings) -> list[float]:
            if self.remaining() < 0:
                raise BudgetUsed
            return self.runner(model, inputs, settings)

        done = {name: blocks for name, blocks in self.state["partial"].items() if name in {n for n, _, _ in named}}
        try:
            timings = ondevice.time_models(named, self.settings, seed=self.state["chunks"], done=done,
                                           on_round=on_round, runner=guarded)
        except ondevice.ProfilingError as error:
            raise RapdartsError(str(error)) from None
        for spec in chunk.specs:
            self.entries[spec.key()] = {"spec": spec.to_dict(), "group": op_group(spec),
                                        **timings[spec.key()].to_dict()}
        for spec in chained:
            self.entries[spec.key()].update(chain_length=CHAIN_LENGTH,
                                            chain_ms=timings[chain_name(spec.key())].latency_ms)
        for name, index in networks.items():
            record = self.state["networks"][index]
            record["blocks_ms"] += timings[name].blocks_ms
            record["passes"] += 1
            record["latency_ms"] = ondevice.latency_of(record["blocks_ms"])
            record["noisy"] = record["noisy"] or timings[name].noisy
        if chunk.overhead:
            self.header["overhead_ms"] = timings[OVERHEAD].latency_ms
        reference["blocks_ms"] += timings[reference["name"]].blocks_ms
        reference["chunks"].append({"chunk": self.state["chunks"], "elapsed_s": round(self.used(), 1),
                                    "latency_ms": timings[reference["name"]].latency_ms})
        reference["latency_ms"] = ondevice.latency_of(reference["blocks_ms"])
        timed = {spec.key() for spec in chunk.specs}
        self.state["pending"] = [s for s in self.state["pending"] if OpSpec(**s).key() not in timed]
        self.state["partial"] = {}
        self.state["chunks"] += 1
        self._learn_model_seconds(chunk, self.clock() - start)
        self._refit_quick()
        self.save()

    def _learn_model_seconds(self, chunk: Chunk, wall: float) -> None:
        """The fixed cost per model (export, sessions) from how long the chunk took beyond its runs."""
        runs = sum(self._runs() * (float(e["latency_ms"]) + float(e.get("chain_ms") or 0.0)) / 1e3
                   for e in (self.entries[s.key()] for s in chunk.specs))
        runs += sum(self._runs() * self.state["networks"][i]["latency_ms"] / 1e3 + 2.0 for i in chunk.networks)
        runs += self._runs() * self.state["reference"]["chunks"][-1]["latency_ms"] / 1e3
        if chunk.specs:
            models = len(chunk.specs) + sum(chosen_for_chain(spec) for spec in chunk.specs)
            per_model = max(0.01, (wall - runs) / models)
            weight = 0.5 if self.state["chunks"] > 1 else 1.0
            self.state["model_seconds"] = (1 - weight) * self.state["model_seconds"] + weight * per_model


def profile_sample(out: str | Path, settings: ondevice.TimingSettings, minutes: float = DEFAULT_MINUTES,
                   seed: int = 0, ranges: DesignRanges = DesignRanges(), networks: int = DEFAULT_VARIED,
                   progress: bool = True, runner: Runner = session_times,
                   clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Time (or continue timing) the designed sample into ``out`` until ``minutes`` of profiling are used in all.

    ``networks`` random genotypes per calibration shape are timed whole besides the single-op ones (0: none, an
    uncalibrated surrogate). Returns a summary: samples, networks timed, minutes used, why it stopped.
    """
    if minutes <= 0:
        raise RapdartsError(f"--minutes {minutes} must be positive")
    out = check_output(out, "the surrogate sample")
    with exclusive(out.parent / f".{out.name}.lock", f"surrogate sample {out}", remove=True):
        header, entries = open_sample(out, settings, seed, ranges, networks)
        state = header["surrogate_sample"]
        state["budget_s"] = minutes * 60.0
        with tempfile.TemporaryDirectory(prefix="rapdarts-surrogate-") as work, \
                progress_bar(int(state["budget_s"]), "surrogate sample (seconds of the budget)", progress,
                             initial=int(min(state["elapsed_s"], state["budget_s"]))) as bar:
            profiler = SampleProfiler(out, header, entries, settings, Path(work), runner, clock, bar)
            reason = profiler.run()
    rounds = state["rounds"]
    return {"path": str(out), "samples": len(entries), "op_types": len({e["spec"]["op"] for e in entries.values()}),
            "networks": sum(bool(n["blocks_ms"]) for n in state["networks"]),
            "networks_planned": len(state["networks"]),
            "minutes": state["elapsed_s"] / 60.0, "budget_minutes": minutes, "stopped": reason,
            "adaptive_rounds": len(rounds), "powerlaw_cv": rounds[-1]["powerlaw_cv"] if rounds else None,
            "reference": reference_summary(state.get("reference"))}
