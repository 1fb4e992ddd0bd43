"""Is the table right about whole networks? Predict networks from the table and time them.

For each architecture (the presets and random genotypes), the prediction is what the ``latency``
cost adds up (calibrated, :meth:`LatencyLookup.predict`) and, for comparison, the plain sum of ops
timed alone; the measurement times the whole evaluation network with the table's own settings, in
interleaved rounds. Reported: mean and mean absolute relative error, the shares within 5% and 10%,
Pearson r, Spearman rho and Kendall tau. ``calibrate=True`` refits the table's calibration on part
of these networks and judges it on the rest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from rapdarts import ondevice
from rapdarts.costs.target import TargetNetwork
from rapdarts.errors import RapdartsError
from rapdarts.latency.drift import warn_if_drifted
from rapdarts.latency.lookup import LatencyLookup
from rapdarts.latency.networks import measure_with_floor
from rapdarts.latency.op_latency import network_ops, op_cost
from rapdarts.latency.table import LatencyTable
from rapdarts.space.genotype import Genotype, varied_genotype

HELD_OUT_EVERY = 2
"""With ``calibrate``, every second random architecture is held out of the refit."""


def uncalibrated(lookup: LatencyLookup, genotype: Genotype, target: TargetNetwork) -> float:
    """The plain sum of the network's ops timed alone (overhead counted once)."""
    lookup.predict(genotype, target)  # measures missing ops, when allowed
    table = lookup.table()
    header = {**table.header, "calibration": None}
    return sum(count * op_cost(header, table.entries[key]) for key, count in network_ops(target, genotype).items())


def validate(lookup: LatencyLookup, target: TargetNetwork, genotypes: Sequence[tuple[str, Genotype]], samples: int,
             seed: int = 1, calibrate: bool = False) -> dict[str, Any]:
    """Measure ``genotypes`` plus ``samples`` fresh random ones and compare them with the table's predictions.

    Random genotypes the table's own calibration was fitted or judged on (``rapdarts profile`` draws
    them with seed 0) are skipped, so the figures are about networks the table never saw. The
    table's reference network is timed in the same rounds, and the noise floor it gives (how far
    independent estimates of one network came out) is reported next to the prediction error.
    """
    table = lookup.table()
    table.check_timable()
    drift = warn_if_drifted(table)
    seen = _calibration_genotypes(table)
    rng = random.Random(seed)
    chosen = list(genotypes)
    index = 0
    while len(chosen) < len(genotypes) + samples:
        genotype = varied_genotype(rng, index)
        if _key(genotype) not in seen:
            chosen.append((f"random-{index}", genotype))
        index += 1
    predicted = {name: lookup.predict(genotype, target) for name, genotype in chosen}
    plain = {name: uncalibrated(lookup, genotype, target) for name, genotype in chosen}
    table.save()  # keeps ops measured on demand
    timings, floor = measure_with_floor(chosen, target, table.settings, table.reference_genotype(), seed,
                                        table.calibration_images)
    rows = [{"name": name, "genotype": genotype.to_dict(), "measured_ms": timings[name].latency_ms,
             "spread": timings[name].spread, "noisy": timings[name].noisy, "predicted_ms": predicted[name],
             "uncalibrated_ms": plain[name]} for name, genotype in chosen]
    report: dict[str, Any] = {"table": str(table.path), "origin": table.describe_origin(), "target": target.to_dict(),
                              "settings": table.settings.to_dict(), "calibration": table.calibration,
                              "reference_drift": drift, "noise_floor": floor, "rows": rows,
                              "agreement": _agreement(rows, "predicted_ms"),
                              "agreement_uncalibrated": _agreement(rows, "uncalibrated_ms")}
    if calibrate:
        report["refit"] = refit(lookup, target, chosen, rows)
    return report


def _key(genotype: Genotype) -> str:
    return json.dumps(genotype.to_dict(), sort_keys=True)


def _calibration_genotypes(table: LatencyTable) -> set[str]:
    """The genotypes the table's calibration was fitted and judged on (when its header lists them)."""
    networks = (table.calibration or {}).get("networks") or []
    return {_key(Genotype.from_dict(row["genotype"], f"calibration network of {table.path}"))
            for row in networks if "genotype" in row}


def refit(lookup: LatencyLookup, target: TargetNetwork, chosen: Sequence[tuple[str, Genotype]],
          rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Fit the calibration again on part of the measured networks, judge it on the others, store it in the table."""
    table = lookup.table()
    randoms = [index for index, (name, _) in enumerate(chosen) if name.startswith("random-")]
    held = {index for position, index in enumerate(randoms) if position % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    fit = [index for index in range(len(chosen)) if index not in held]
    if len(fit) < ondevice.MIN_FIT or len(held) < ondevice.MIN_HELD_OUT:
        raise RapdartsError("--calibrate needs at least 4 networks to fit and 2 to hold out (raise --samples)")
    features = [ondevice.network_features(network_ops(target, genotype), table.entries, table.header["overhead_ms"])
                for _, genotype in chosen]
    scales = ondevice.fit_scales([features[i] for i in fit], [rows[i]["measured_ms"] for i in fit])
    for index, (row, feature) in enumerate(zip(rows, features)):
        row["refit_ms"] = ondevice.predict(feature, scales)
        row["role"] = "held_out" if index in held else "fit"
    held_rows = [rows[i] for i in sorted(held)]
    result = {"method": "per-group scales, non-negative least squares on relative errors, shrunk towards 1",
              "scales": scales, "fitted_on": len(fit), "source": "rapdarts validate-latency --calibrate",
              "held_out": _agreement(held_rows, "refit_ms"),
              "held_out_before": _agreement(held_rows, "predicted_ms"),
              "held_out_uncalibrated": _agreement(held_rows, "uncalibrated_ms")}
    table.header["calibration"] = {**result, "networks": [{k: v for k, v in row.items() if k != "genotype"}
                                                          for row in rows]}
    table.save()
    return result


def _agreement(rows: Sequence[dict[str, Any]], key: str) -> dict[str, float]:
    return ondevice.agreement([row[key] for row in rows], [row["measured_ms"] for row in rows])
