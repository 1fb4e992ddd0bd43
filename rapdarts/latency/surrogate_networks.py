"""Whole networks from the latency surrogate: the calibration networks a profile times, the calibration, judging.

A network is priced like a table prices it (:mod:`rapdarts.latency.op_latency`): every op at its
shape, here predicted by the surrogate instead of looked up and taken at the share of its time alone
that it keeps between neighbours (:mod:`.surrogate_context`), the per-call overhead counted once
(with the stem), each op scaled by its group's calibration factor. The factors are fitted by
:func:`rapdarts.ondevice.fit_scales` on whole networks that ``rapdarts surrogate profile`` times
in the same rounds as the sample: random and single-op genotypes at :data:`CALIBRATION_SHAPES`
(two widths, two batch sizes), so one scale per op group has to hold across sizes. Because the
calibration is a factor per op group, the cost of one op is still a pure function of its spec,
which is what a search's ``CostProvider.cost(spec)`` needs: any width, resolution or batch is
priced the same way, including ones nobody profiled; :func:`leave_one_shape_out` says how well that
carries to a shape the fit never saw, and a calibration that carries worse than the plain sums is not
applied. :func:`judge_networks` times fresh random genotypes at a shape of the user's choosing and compares.

A machine drifts: the same 60 networks, timed by the same code 50 minutes apart on a shared VM,
ran 27% faster the second time (``benchmarks/RESULTS.md``, 2026-12-02). So a profile times one
*reference network* (:func:`reference_record`) in every chunk's rounds, and judging times it again
in the same rounds as the fresh networks: ``now / profile`` is the drift of the machine, and a
prediction scaled by it says what the surrogate would have predicted on today's machine. A user
can then tell a bad surrogate (wrong after the drift is taken out) from a machine that changed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, Protocol

from rapdarts import ondevice
from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.errors import RapdartsError
from rapdarts.latency.networks import network_model
from rapdarts.latency.op_latency import network_ops, op_group
from rapdarts.space.genotype import Genotype, preset, single_op_genotype, varied_genotype
from rapdarts.space.ops import derivable

CALIBRATION_SHAPES = ((16, 1), (36, 1), (16, 4), (36, 4))
"""``(init channels, batch)`` of the whole networks a profile times (CIFAR input, 20 cells)."""
SINGLE_OP_BATCHES = (1,)
"""Batch sizes at which the single-op networks (every edge one op type) are timed: they pin each group's scale."""
DEFAULT_VARIED = 4
"""Random genotypes per calibration shape (every third one overall is held out to judge the fit)."""
HELD_OUT_EVERY = 3
JUDGE_SESSIONS = 8
"""Fresh sessions per network, at the least, when networks are timed to judge the surrogate."""
REFERENCE_GENOTYPE = "PDARTS"
REFERENCE_SHAPE = (16, 1)
"""``(init channels, batch)`` of the reference network: small (a few ms), so timing it in every chunk is cheap."""
REFERENCE_NAME = "reference:PDARTS-C16-b1"


def reference_record(shape: DataShape | None = None) -> dict[str, Any]:
    """The reference network a profile times in every chunk and judging times again (JSON-ready)."""
    channels, batch = REFERENCE_SHAPE
    return {"name": REFERENCE_NAME, "target": TargetNetwork(shape or DataShape(), channels, batch=batch).to_dict(),
            "genotype": preset(REFERENCE_GENOTYPE).to_dict(), "blocks_ms": [], "chunks": [], "latency_ms": None}


def reference_summary(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """How the reference ran through a profile: its latency, and the drift between the fastest and the slowest
    chunk (chunk statistic over the whole-profile statistic); ``None`` for a sample without one."""
    if not record or not record.get("chunks"):
        return None
    levels = [chunk["latency_ms"] for chunk in record["chunks"]]
    return {"network": record["name"], "latency_ms": record["latency_ms"], "chunks": len(levels),
            "slowest_chunk": max(levels) / record["latency_ms"], "fastest_chunk": min(levels) / record["latency_ms"],
            "spread": ondevice.relative_range(levels)}


class Predictor(Protocol):
    """What pricing a network needs of a surrogate (:class:`rapdarts.latency.surrogate.LatencySurrogate`)."""

    header: dict[str, Any]

    def predicted_entries(self, specs: Sequence[OpSpec], context: bool = True) -> dict[str, dict[str, Any]]:
        ...


def calibration_plan(varied: int = DEFAULT_VARIED, seed: int = 0, shape: DataShape | None = None
                     ) -> list[dict[str, Any]]:
    """The networks a profile times: ``{"name", "role", "target", "genotype"}`` records (JSON-ready)."""
    if varied <= 0:
        return []
    shape = shape or DataShape()
    rng = random.Random(seed)
    plan, index = [], 0
    for channels, batch in CALIBRATION_SHAPES:
        target = TargetNetwork(shape, channels, batch=batch).to_dict()
        if batch in SINGLE_OP_BATCHES:
            plan += [{"name": f"C{channels}-b{batch}-only-{op}", "role": "fit", "target": target,
                      "genotype": single_op_genotype(op).to_dict()} for op in derivable()]
        for _ in range(varied):
            role = "held_out" if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "fit"
            plan.append({"name": f"C{channels}-b{batch}-random-{index}", "role": role, "target": target,
                         "genotype": varied_genotype(rng, index).to_dict()})
            index += 1
    return plan


def target_of(record: Mapping[str, Any]) -> TargetNetwork:
    return TargetNetwork.from_dict(record["target"])


def genotype_of(record: Mapping[str, Any]) -> Genotype:
    return Genotype.from_dict(record["genotype"], f"calibration network {record.get('name', '?')}")


def group_totals(surrogate: Predictor, genotype: Genotype, target: TargetNetwork, context: bool = True
                 ) -> dict[str, float]:
    """The network's predicted latency per op group, uncalibrated (overhead once, with the stem); every op priced
    as it runs inside a network (:mod:`.surrogate_context`), or with ``context=False`` at its time alone."""
    specs = {spec.key(): spec for spec in target.genotype_specs(genotype)}
    ops = network_ops(target, genotype)
    entries = surrogate.predicted_entries([specs[key] for key in ops], context)
    return ondevice.network_features(ops, entries, surrogate.header.get("overhead_ms"))


def fit_context_weight(surrogate: Any, networks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How much of the boundary cost that chains say an op alone pays a whole network really saves: the weight
    ``w`` in ``network = alone - w * (alone - in_chain)``, by least squares on the relative errors of each
    calibration shape's ``fit`` networks, the smallest over shapes, within ``[0, 1]``; kept only when it prices
    the ``held_out`` networks better than the sums of ops alone and, with two shapes or more, every shape left
    out of the fit, priced with the other shapes' smallest weight, no worse than by its ops alone
    (:func:`_shape_left_out_errors`); else 0: the ops are priced at their time alone.

    Chains are the cleanest measure of an op between neighbours, but a network is not a chain of one op: its
    concatenations, sums and pools of other channel counts break the blocked layout in places, so it saves part
    of the boundary cost, and how much depends on the machine and the width (measured, 2026-12-04: the sums of
    ops in chains were 1-28% under that host's calibration networks, the sums of ops alone 13% under to 18% over).

    Why per shape and the smallest: the saving is not one number. On the AMD host of 2026-12-04 two samples
    fitted about 1.0 at C=16 (every tensor a multiple of 16 channels, this CPU's block: a C=16 network stays in
    the blocked layout throughout) and 0.3 at C=36 (36 and 72 channels are not blocked); one pooled fit, or the
    median of two widths (0.61-0.69), priced the held-out networks better but unseen widths worse (on one
    sample C=24 networks 5% within 10% where the ops alone left 70%). The smallest is the saving every
    calibration width shows: on the quiet sample it put 95%, 95% and 95% of networks at C=24, C=48 and C=36
    batch 8 within 10% (the ops alone 90%, 85%, 95%). Every left-out shape, not their mean, must be priced no
    worse: a shape whose own saving is far below the others' says theirs does not carry.
    """
    timed = [record for record in networks if record.get("blocks_ms")]
    surrogate.context_fit["weight"] = 1.0  # the ratios as the chains measured them
    by_shape: dict[str, list[_Priced]] = {}
    for record in timed:
        genotype, target = genotype_of(record), target_of(record)
        alone = sum(group_totals(surrogate, genotype, target, False).values())
        chained = sum(group_totals(surrogate, genotype, target, True).values())
        by_shape.setdefault(shape_label(record["target"]), []).append(
            _Priced(record["role"], float(record["latency_ms"]), alone, alone - chained))
    fit = [row for shape_rows in by_shape.values() for row in shape_rows if row.role == "fit"]
    held = [row for shape_rows in by_shape.values() for row in shape_rows if row.role == "held_out"]
    weights_by_shape = {label: weight for label, shape_rows in sorted(by_shape.items())
                        if (weight := _least_squares_weight([row for row in shape_rows if row.role == "fit"]))
                        is not None}
    fitted = min(weights_by_shape.values()) if len(weights_by_shape) >= 2 \
        else (_least_squares_weight(fit) or 0.0)
    weight = _clip_weight(fitted)
    alone_error, blended_error = _mean_error(held, 0.0), _mean_error(held, weight)
    left_out = _shape_left_out_errors(by_shape, weights_by_shape)
    held_out_agrees = alone_error is None or blended_error is None or blended_error < alone_error
    unseen_agrees = left_out is None or all(shape["error_blended"] <= shape["error_alone"]
                                            for shape in left_out["by_shape"].values())
    kept = weight if held_out_agrees and unseen_agrees else 0.0
    surrogate.context_fit["weight"] = kept
    return {"fitted_weight": fitted, "weight": kept, "weights_by_shape": weights_by_shape, "fit_networks": len(fit),
            "held_out_error_alone": alone_error, "held_out_error_blended": blended_error,
            "shape_left_out": left_out, "fit_error_alone": _mean_error(fit, 0.0),
            "fit_error_chains": _mean_error(fit, 1.0)}


class _Priced(NamedTuple):
    """One timed calibration network: measured, the sum of its ops alone, and what the chains say it saves."""

    role: str
    measured: float
    alone: float
    saved: float


def _clip_weight(weight: float) -> float:
    return min(max(weight, 0.0), 1.0)


def _least_squares_weight(rows: Sequence[_Priced]) -> float | None:
    """The ``w`` that minimises the squared relative errors of ``alone - w * saved``; ``None`` when nothing is saved."""
    denominator = sum((row.saved / row.measured) ** 2 for row in rows)
    if denominator <= 0:
        return None
    return sum((row.alone - row.measured) * row.saved / row.measured ** 2 for row in rows) / denominator


def _mean_error(rows: Sequence[_Priced], weight: float) -> float | None:
    """Mean absolute relative error of the networks priced at ``alone - weight * saved``."""
    return sum(abs((row.alone - weight * row.saved) / row.measured - 1) for row in rows) / len(rows) \
        if rows else None


def _shape_left_out_errors(by_shape: Mapping[str, Sequence[_Priced]], weights_by_shape: Mapping[str, float]
                           ) -> dict[str, Any] | None:
    """Every shape's networks priced with the smallest weight of the *other* shapes, against its ops alone.

    The held-out networks share their shapes with the fit, and a surrogate is for shapes nobody profiled: this is
    the weight's own estimate of how it carries to one (as :func:`leave_one_shape_out` is for the scales).
    ``None`` with fewer than two shapes fitted.
    """
    if len(weights_by_shape) < 2:
        return None
    blended, alone, by_label = [], [], {}
    for label in weights_by_shape:
        others = [weight for other, weight in weights_by_shape.items() if other != label]
        weight = _clip_weight(min(others))
        shape_blended, shape_alone = _mean_error(by_shape[label], weight), _mean_error(by_shape[label], 0.0)
        by_label[label] = {"weight": weight, "error_blended": shape_blended, "error_alone": shape_alone}
        blended.append(shape_blended)
        alone.append(shape_alone)
    return {"error_blended": sum(blended) / len(blended), "error_alone": sum(alone) / len(alone),
            "by_shape": by_label}


def calibrate(surrogate: Predictor, networks: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Per-group scales fitted on the ``fit`` networks (measured ``latency_ms``), judged on the ``held_out`` ones;
    ``None`` with too few timed networks (the surrogate is then used uncalibrated)."""
    rows = []
    for record in networks:
        if not record.get("blocks_ms"):
            continue
        features = group_totals(surrogate, genotype_of(record), target_of(record))
        rows.append({"name": record["name"], "role": record["role"], "target": record["target"],
                     "genotype": record["genotype"], "measured_ms": float(record["latency_ms"]),
                     "noisy": bool(record.get("noisy")), "features": features,
                     "predicted_ms": ondevice.predict(features, None),
                     "alone_ms": sum(group_totals(surrogate, genotype_of(record), target_of(record), False).values())})
    fit = [row for row in rows if row["role"] == "fit"]
    held = [row for row in rows if row["role"] == "held_out"]
    if len(fit) < ondevice.MIN_FIT or len(held) < ondevice.MIN_HELD_OUT:
        return None
    scales = ondevice.fit_scales([row["features"] for row in fit], [row["measured_ms"] for row in fit])
    for row in rows:
        row["calibrated_ms"] = ondevice.predict(row["features"], scales)
    held_out, plain = _agreement(held, "calibrated_ms"), _agreement(held, "predicted_ms")
    by_shape = shape_residuals(rows)
    unseen_shape = leave_one_shape_out(rows)
    applied = calibration_helps(held_out, plain, by_shape, unseen_shape)
    return {"method": "per-group scales, non-negative least squares on relative errors, shrunk towards 1",
            "scales": scales if applied else {}, "fitted_scales": scales, "applied": applied,
            "residual_by_shape": by_shape, "fitted_on": len(fit), "held_out": held_out,
            "held_out_uncalibrated": plain, "unseen_shape": unseen_shape, "networks": rows}


def shape_label(target: Mapping[str, Any]) -> str:
    """``C<channels>-b<batch>``: the calibration shape of a network's target record."""
    return f"C{target['init_channels']}-b{target.get('batch', 1)}"


def leave_one_shape_out(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """How the calibration prices networks at a shape it never saw: every calibration shape in turn priced by the
    scales fitted on the other shapes' ``fit`` networks; ``None`` with fewer than two shapes.

    A surrogate is for shapes nobody profiled (a search at C=48, a deployment at batch 8), and the held-out
    networks of :func:`calibrate` share their shapes with the fit, so they cannot say how the calibration
    carries to another one. Leaving a whole shape out can: it is the calibration's own estimate of its error
    at an unprofiled width or batch (a lower bound where the target lies outside every calibration shape, since
    the held-out shape here always has neighbours). Reported next to the sums of ops on the same networks.
    """
    labels = sorted({shape_label(row["target"]) for row in rows})
    predicted, measured, by_shape = [], [], {}
    for label in labels:
        train = [row for row in rows if row["role"] == "fit" and shape_label(row["target"]) != label]
        if len(train) < ondevice.MIN_FIT:
            continue
        scales = ondevice.fit_scales([row["features"] for row in train], [row["measured_ms"] for row in train])
        tested = [row for row in rows if shape_label(row["target"]) == label]
        priced = [ondevice.predict(row["features"], scales) for row in tested]
        by_shape[label] = ondevice.agreement(priced, [row["measured_ms"] for row in tested])["mean_error"]
        predicted += priced
        measured += [row["measured_ms"] for row in tested]
    if len(by_shape) < 2:
        return None
    left_out = {row["name"] for row in rows if shape_label(row["target"]) in by_shape}
    return {"agreement": ondevice.agreement(predicted, measured), "mean_error_by_shape": by_shape,
            "uncalibrated": _agreement([row for row in rows if row["name"] in left_out], "predicted_ms")}


SHAPE_TOLERANCE = 0.10
"""How far apart the calibrated networks' mean measured/predicted ratios of two calibration shapes may lie."""


def shape_residuals(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per calibration shape (``C<channels>-b<batch>``), the mean measured/calibrated ratio of its networks."""
    ratios: dict[str, list[float]] = {}
    for row in rows:
        ratios.setdefault(shape_label(row["target"]), []).append(row["measured_ms"] / row["calibrated_ms"])
    return {label: sum(values) / len(values) for label, values in sorted(ratios.items())}


def calibration_helps(held_out: Mapping[str, float], plain: Mapping[str, float],
                      by_shape: Mapping[str, float], unseen_shape: Mapping[str, Any] | None = None) -> bool:
    """Whether the fitted scales are a model of these networks: one factor per group that holds at every shape.

    Unlike a table's, a surrogate's scales have to hold across widths and batch sizes. Where the networks say
    the op sums are off by a factor that changes with size (measured here, 2026-12-02: sums 20-37% over
    C=16 networks, within about 10% of C=36 ones), one factor per group is a compromise that is wrong at
    every size, and the calibrated networks of different shapes land apart (by more than
    :data:`SHAPE_TOLERANCE`). Such a calibration, one that does not beat the plain sums on the held-out
    networks, or one that prices a shape left out of its fit (``unseen_shape``, :func:`leave_one_shape_out`)
    worse than the plain sums do, is recorded (``fitted_scales``) but not applied: the surrogate prices
    networks as sums of its ops.
    """
    return not failed_checks(held_out, plain, by_shape, unseen_shape)


def failed_checks(held_out: Mapping[str, float], plain: Mapping[str, float], by_shape: Mapping[str, float],
                  unseen_shape: Mapping[str, Any] | None = None) -> list[str]:
    """The checks of :func:`calibration_helps` the scales fail, in words (empty: the calibration is applied)."""
    reasons = []
    if held_out and plain and held_out["mean_abs_error"] >= plain["mean_abs_error"]:
        reasons.append("predicted the held-out networks no better than the sums of ops")
    spread = max(by_shape.values()) - min(by_shape.values()) if by_shape else 0.0
    if spread > SHAPE_TOLERANCE:
        reasons.append(f"left networks of different shapes {spread:.0%} apart (more than {SHAPE_TOLERANCE:.0%})")
    if unseen_shape and unseen_shape["agreement"]["mean_abs_error"] >= unseen_shape["uncalibrated"]["mean_abs_error"]:
        reasons.append("priced a shape left out of the fit no better than the sums of ops")
    return reasons


def why_not_applied(calibration: Mapping[str, Any]) -> str:
    """Why a recorded calibration is not applied, in words (for messages)."""
    return " and ".join(failed_checks(calibration.get("held_out") or {}, calibration.get("held_out_uncalibrated") or {},
                                      calibration.get("residual_by_shape") or {}, calibration.get("unseen_shape"))) \
        or "did not help"


def applied_scales(calibration: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The per-group scales a surrogate prices with (``None``: uncalibrated, or a calibration not applied)."""
    return (calibration or {}).get("scales") or None


def _agreement(rows: Sequence[Mapping[str, Any]], key: str) -> dict[str, float]:
    return ondevice.agreement([row[key] for row in rows], [row["measured_ms"] for row in rows])


def _key(genotype: Genotype) -> str:
    return json.dumps(genotype.to_dict(), sort_keys=True)


def fresh_genotypes(count: int, seed: int, seen: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, Genotype]]:
    """``count`` random genotypes (:func:`varied_genotype`, half uniform, half skewed) that none of the records
    ``seen`` (a calibration's networks) contains."""
    skip = {json.dumps(record["genotype"], sort_keys=True) for record in seen}
    rng = random.Random(seed)
    chosen, index = [], 0
    while len(chosen) < count:
        genotype = varied_genotype(rng, index)
        if _key(genotype) not in skip:
            chosen.append((f"random-{index}", genotype))
        index += 1
    return chosen


def judge_networks(surrogate: Any, target: TargetNetwork, count: int, seed: int = 1,
                   settings: ondevice.TimingSettings | None = None) -> dict[str, Any]:
    """Time ``count`` fresh random genotypes whole at ``target``'s shape and batch, with the surrogate's timing
    settings, and compare them with what the surrogate prices them at (calibrated and uncalibrated)."""
    if not ondevice.measured_here(surrogate.header):
        raise RapdartsError(f"the surrogate's sample was timed on {surrogate.header.get('device')} with "
                            f"{surrogate.header.get('provider')}: networks cannot be timed here the same way; judge "
                            "it on that device")
    base = ondevice.TimingSettings.from_dict(surrogate.header)
    settings = settings or replace(base, sessions=max(base.sessions, JUDGE_SESSIONS))
    for key in ("provider", "intra_threads", "inter_threads", "optimization", "precision"):
        if getattr(settings, key) != getattr(base, key):
            raise RapdartsError(f"networks must be timed with the surrogate's {key} ({getattr(base, key)!r}), not "
                                f"{getattr(settings, key)!r}")
    calibration = surrogate.calibration or {}
    scales = applied_scales(calibration)
    chosen = fresh_genotypes(count, seed, calibration.get("networks", ()))
    reference = (surrogate.header.get("surrogate_sample") or {}).get("reference") or {}
    timings, now = _time_with_reference(chosen, target, settings, seed, reference)
    drift = now / reference["latency_ms"] if now is not None and reference.get("latency_ms") else None
    rows = []
    for name, genotype in chosen:
        totals = group_totals(surrogate, genotype, target)
        predicted = ondevice.predict(totals, scales)
        rows.append({"name": name, "genotype": genotype.to_dict(), "measured_ms": timings[name].latency_ms,
                     "noisy": timings[name].noisy, "spread": timings[name].spread, "predicted_ms": predicted,
                     "uncalibrated_ms": ondevice.predict(totals, None),
                     "alone_ms": sum(group_totals(surrogate, genotype, target, False).values()),
                     "drift_corrected_ms": predicted * drift if drift is not None else None})
    return {"target": target.to_dict(), "settings": settings.to_dict(), "rows": rows,
            "reference": {"network": reference.get("name"), "profile_ms": reference.get("latency_ms"),
                          "now_ms": now, "drift": drift, **_drift_verdict(drift, reference_summary(reference))},
            "agreement": _agreement(rows, "predicted_ms"),
            "agreement_uncalibrated": _agreement(rows, "uncalibrated_ms"),
            "agreement_alone": _agreement(rows, "alone_ms"),
            "agreement_drift_corrected": _agreement(rows, "drift_corrected_ms") if drift is not None else None}


def _drift_verdict(drift: float | None, profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """Whether the drift since the profile is more than the reference moved *during* it.

    A profile's reference is timed in every chunk, so the range of its chunks is the machine's own
    wandering while the sample was taken, measured rather than assumed. A drift inside that range says
    nothing (the machine is as it was; prediction errors are the surrogate's); only one outside it
    says the machine changed, and then the drift-corrected agreement is worth reading.
    """
    if drift is None or not profile:
        return {"profile_range": None, "beyond_profile_range": None}
    low, high = profile["fastest_chunk"], profile["slowest_chunk"]
    return {"profile_range": [low, high], "beyond_profile_range": not low <= drift <= high}


def _time_with_reference(chosen: Sequence[tuple[str, Genotype]], target: TargetNetwork,
                         settings: ondevice.TimingSettings, seed: int, reference: Mapping[str, Any]
                         ) -> tuple[dict[str, ondevice.Timing], float | None]:
    """The fresh networks, and the profile's reference network when it has one, timed in the same rounds."""
    models = [(name, *network_model(genotype, target, precision=settings.precision)) for name, genotype in chosen]
    if reference.get("latency_ms"):
        models.append((REFERENCE_NAME, *network_model(genotype_of(reference), target_of(reference),
                                                      precision=settings.precision)))
    try:
        timings = ondevice.time_models(models, settings, seed=seed)  # type: ignore[arg-type]
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None
    now = timings.pop(REFERENCE_NAME).latency_ms if REFERENCE_NAME in timings else None
    return timings, now


def predicted_entry(spec: OpSpec, latency_ms: float) -> dict[str, Any]:
    """A table entry for a predicted op (calibrated like a profiled one: the scales apply to every shape)."""
    return {"spec": spec.to_dict(), "group": op_group(spec), "latency_ms": latency_ms}
