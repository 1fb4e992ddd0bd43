"""Timing whole networks with ONNX Runtime: the one way every command measures a network's latency.

``rapdarts cost --measure``, ``validate-latency``, the training report and latency budgets all
export the evaluation network the same way and time it with the same settings (a latency table's
own, when there is one), so they report the same measured number for the same network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import torch

from rapdarts.costs.target import TargetNetwork
from rapdarts.deploy import ondevice
from rapdarts.deploy.onnx_export import export_onnx
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import Genotype


def network_model(genotype: Genotype, target: TargetNetwork, seed: int = 0) -> tuple[bytes, object]:
    """The ONNX model of ``genotype``'s evaluation network at ``target``'s shape and an input for it."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = target.build(genotype).eval()
    example = torch.randn(target.batch, target.in_channels, *target.image_size, generator=generator)
    return export_onnx(network, example, what="the whole network"), example.numpy()


def measure_networks(genotypes: Sequence[tuple[str, Genotype]], target: TargetNetwork,
                     settings: ondevice.TimingSettings, seed: int = 0) -> dict[str, ondevice.Timing]:
    """Time each network in interleaved rounds of fresh sessions (see :mod:`rapdarts.deploy.ondevice.timing`)."""
    models = [(name, *network_model(genotype, target)) for name, genotype in genotypes]
    try:
        return ondevice.time_models(models, settings, seed=seed)  # type: ignore[arg-type]
    except ondevice.ProfilingError as error:
        raise RapdartsError(str(error)) from None


def measure_genotype(genotype: Genotype, target: TargetNetwork, settings: ondevice.TimingSettings) -> ondevice.Timing:
    """The measured latency of one network, with its spread across sessions."""
    return measure_networks([("network", genotype)], target, settings)["network"]


BUDGET_SESSIONS = 5
"""Fresh sessions per network when a latency budget is judged on the measurement."""


def latency_timer(options: Mapping[str, str]) -> tuple[Callable[[Genotype, TargetNetwork], float] | None, str]:
    """A timer of whole networks for a latency budget, and a note on where measured figures come from.

    Only a table measured on this machine (same CPU, ONNX Runtime and settings) can be checked here;
    for one made on another device (``export-ops``) there is no timer and budgets are judged on its
    calibrated prediction, which the note says.
    """
    from rapdarts.latency.lookup import LatencyLookup

    table = LatencyLookup(options).table()
    if not table.measured_here():
        return None, (f"the latency table {table.path} was measured on {table.header['device']}, not here: the "
                      "latency budget is judged on its calibrated prediction")
    # A budget's verdict rests on this figure: more sessions than a table entry, spread over more time.
    settings = dataclasses.replace(table.settings, sessions=max(table.settings.sessions, BUDGET_SESSIONS))

    def timer(genotype: Genotype, target: TargetNetwork) -> float:
        return measure_genotype(genotype, target, settings).median_ms

    return timer, f"latency measured on this machine, as the {table.describe_origin()}"
