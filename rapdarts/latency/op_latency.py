"""An op's latency inside a network, from its table entry: the op's calibration group and its calibrated cost.

A table entry is the latency statistic of one op run alone (:mod:`rapdarts.ondevice.statistic`). A
whole network is one ``session.run``, so the per-call overhead is counted once (with the stem, the
first op of every network) and every other op costs ``latency - overhead``. The calibration that
``rapdarts profile`` fits on whole networks (:mod:`rapdarts.ondevice.calibration`, where the
reasons are written down) scales that by one factor per group: the op type for cell ops, ``fixed``
for the stem, preprocessing, sums, concatenations and classifier. It applies to the ops of the
target network the table was profiled for; an op measured later on demand (another shape) has no
calibration and costs its raw time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.ondevice.calibration import FIXED, entry_latency
from rapdarts.space.genotype import Genotype
from rapdarts.space.ops import is_zero


def op_group(spec: OpSpec) -> str:
    """The calibration group of an op: its type for cell ops (``sep_conv_3x3``...), ``fixed`` for the rest."""
    return spec.op if spec.is_cell_op else FIXED


def calibrated(entry: Mapping[str, Any]) -> bool:
    """Whether an entry belongs to the profiled target (so the table's calibration applies to it)."""
    return not entry.get("on_demand", False)


def op_cost(header: Mapping[str, Any], entry: Mapping[str, Any]) -> float:
    """The cost (ms) of one op inside a whole network, from its table entry."""
    value = entry_latency(entry, header.get("overhead_ms"))
    fitted = header.get("calibration")
    if fitted and calibrated(entry):
        value *= fitted["scales"].get(entry.get("group", FIXED), 1.0)
    return value


def network_ops(target: TargetNetwork, genotype: Genotype) -> Counter[str]:
    """How often each op spec (by key) occurs in the network of ``genotype``; ``none`` is never run."""
    return Counter(spec.key() for spec in target.genotype_specs(genotype) if not is_zero(spec.op))
