"""Timing whole networks with ONNX Runtime: the one way every command measures a network's latency.

``rapdarts cost --measure``, ``validate-latency``, the training report and latency budgets all
export the evaluation network the same way and time it with the same settings (a latency table's
own, when there is one), so they report the same measured number for the same network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rapdarts import ondevice
from rapdarts.costs.target import TargetNetwork
from rapdarts.deploy.onnx_export import export_onnx
from rapdarts.errors import RapdartsError
from rapdarts.latency import int8
from rapdarts.space.genotype import Genotype


def network_model(genotype: Genotype, target: TargetNetwork, seed: int = 0, precision: str = "fp32",
                  calibration: str | None = None) -> tuple[bytes, object]:
    """The ONNX model of ``genotype``'s evaluation network at ``target``'s shape and an input for it; int8
    (static, QDQ) on the real images ``calibration`` names when ``precision`` says so."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = target.build(genotype).eval()
    example = torch.randn(target.batch, target.in_channels, *target.image_size, generator=generator)
    data = export_onnx(network, example, what="the whole network")
    if precision == "int8":
        int8.check_precision(precision, calibration)
        images = int8.calibration_images(calibration, target.in_channels, target.image_size)
        data = int8.quantize_network(data, images, target.batch, "the whole network")
    return data, example.numpy()


def measure_networks(genotypes: Sequence[tuple[str, Genotype]], target: TargetNetwork,
                     settings: ondevice.TimingSettings, seed: int = 0, calibration: str | None = None
                     ) -> dict[str, ondevice.Timing]:
    """Time each network in interleaved rounds of fresh sessions (see :mod:`rapdarts.ondevice.timing`), exported
    at ``settings.precision``."""
    models = [(name, *network_model(genotype, target, precision=settings.precision, calibration=calibration))
              for name, genotype in genotypes]
    try:
        return ondevice.time_models(models, settings, seed=seed)  # type: ignore[arg-type]
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None


def measure_with_floor(genotypes: Sequence[tuple[str, Genotype]], target: TargetNetwork,
                       settings: ondevice.TimingSettings, reference: Genotype, seed: int = 0,
                       calibration: str | None = None) -> tuple[dict[str, ondevice.Timing], dict[str, Any]]:
    """:func:`measure_networks` with ``reference`` timed several times in every round, and the noise floor that
    gave (:func:`rapdarts.ondevice.time_with_floor`): how far independent estimates of one network came out."""
    models = [(name, *network_model(genotype, target, precision=settings.precision, calibration=calibration))
              for name, genotype in genotypes]
    models.append((REFERENCE, *network_model(reference, target, precision=settings.precision, calibration=calibration)))
    try:
        timings, floor = ondevice.time_with_floor(models, REFERENCE, settings, seed=seed)  # type: ignore[arg-type]
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None
    reference_timing = timings.pop(REFERENCE)
    floor["latency_ms"] = reference_timing.latency_ms
    return timings, floor


REFERENCE = "reference network"
"""The name the reference network is timed under (never a genotype's name)."""


def measure_genotype(genotype: Genotype, target: TargetNetwork, settings: ondevice.TimingSettings,
                     calibration: str | None = None) -> ondevice.Timing:
    """The measured latency of one network, with its spread across sessions."""
    return measure_networks([("network", genotype)], target, settings, calibration=calibration)["network"]
