"""int8 latency tables: real calibration inputs for every op and network a table times, and the quantized models.

Static quantization needs inputs to calibrate each tensor's scale on. A whole network is calibrated
on real images of a dataset, normalised as training normalises them. An op of the table sees, in a
network, the activations of the cell states before it, so it is calibrated on those: the images
are run through an evaluation network of the table's target (the published PDARTS cell, whose
cells see every shape the target's ops do) and the input of every module is kept by its shape.

``source`` names the images: ``digits`` (embedded), ``cifar10`` / ``cifar100`` (with an optional
``:DIR``), or ``imagefolder:DIR`` (resized to the target's image size). Tables record it, so the
networks of an int8 table are quantized the same way when they are timed later (validation,
``cost --measure``, latency budgets).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from rapdarts.costs.spec import OpSpec
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import load_dataset
from rapdarts.deploy.quantize import CALIBRATION_BATCHES, calibration_batches, quantize_int8
from rapdarts.errors import RapdartsError
from rapdarts.settings import DATASETS
from rapdarts.space.genotype import preset

IMAGES = 32
"""Calibration images per table."""


def parse_source(source: str) -> tuple[str, str | None]:
    """``"cifar10:/data"`` -> ``("cifar10", "/data")``; one-line error for an unknown dataset."""
    name, _, directory = source.partition(":")
    if name not in DATASETS:
        raise RapdartsError(f"calibration images {source!r}: name one of {', '.join(DATASETS)}, e.g. digits, "
                            "cifar10:DIR or imagefolder:DIR")
    if name == "imagefolder" and not directory:
        raise RapdartsError("calibration images imagefolder need a directory: imagefolder:DIR")
    return name, directory or None


@lru_cache(maxsize=4)
def calibration_images(source: str, in_channels: int, image_size: tuple[int, int], count: int = IMAGES
                       ) -> torch.Tensor:
    """``count`` real images of ``source``, class-balanced and normalised like training inputs, ``[N, C, H, W]``."""
    name, directory = parse_source(source)
    data = load_dataset(name, directory, train=True, image_size=image_size[0] if name == "imagefolder" else None)
    if data.in_channels != in_channels or data.image_size != tuple(image_size):
        raise RapdartsError(f"calibration images {source!r} are {data.in_channels}x{data.image_size[0]}x"
                            f"{data.image_size[1]}, but the table's network takes {in_channels}x{image_size[0]}x"
                            f"{image_size[1]}; calibrate on images of the deployed input (--calibration-images)")
    return torch.from_numpy(calibration_batches(data, count, count)[0])


def network_calibration(images: torch.Tensor, batch: int) -> list[np.ndarray]:
    """Calibration inputs of a whole network: the images in batches of the table's batch size."""
    usable = len(images) - len(images) % batch or len(images)
    return [images[i:i + batch].numpy() for i in range(0, usable, batch)][:CALIBRATION_BATCHES]


def op_calibration(target: TargetNetwork, images: torch.Tensor) -> dict[tuple[int, int, int], torch.Tensor]:
    """The activations ops of ``target`` see, by shape ``(C, H, W)``: every module's input in a network run on
    the images (the network's first input, the images, included)."""
    network = target.build(preset("PDARTS")).eval()
    seen: dict[tuple[int, int, int], torch.Tensor] = {tuple(images.shape[1:]): images}

    def keep(module: torch.nn.Module, inputs: tuple) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
            seen.setdefault(tuple(inputs[0].shape[1:]), inputs[0].detach().clone())

    hooks = [module.register_forward_pre_hook(keep) for module in network.modules()]
    try:
        with torch.no_grad():
            network(images)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def quantize_op(model: bytes, spec: OpSpec, activations: dict[tuple[int, int, int], torch.Tensor]) -> bytes:
    """The int8 op model, calibrated on the activations of its input shape (random normal where none was seen)."""
    found = activations.get((spec.C_in, spec.height, spec.width))
    if found is None:
        generator = torch.Generator().manual_seed(0)
        found = torch.randn(IMAGES, spec.C_in, spec.height, spec.width, generator=generator)
    return quantize_int8(model, network_calibration(found, spec.batch), what=f"op {spec.describe()}")


def quantize_network(model: bytes, images: torch.Tensor, batch: int, what: str) -> bytes:
    return quantize_int8(model, network_calibration(images, batch), what=what)


def check_precision(precision: str, source: str | None) -> None:
    """An int8 table needs real images to calibrate on; fp32 needs none."""
    if precision == "int8" and not source:
        raise RapdartsError("--precision int8 calibrates every op and network on real images: give "
                            "--calibration-images (digits, cifar10[:DIR], cifar100[:DIR] or imagefolder:DIR)")


