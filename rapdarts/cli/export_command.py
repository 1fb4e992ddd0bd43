"""``rapdarts export``: a trained (or untrained) evaluation network as a verified ONNX model."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from rapdarts.cli.options import output_file
from rapdarts.costs.target import TargetNetwork
from rapdarts.data import DataShape
from rapdarts.deploy.export import DEFAULT_TOLERANCE, export_checked
from rapdarts.deploy.onnx_export import DEFAULT_OPSET
from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import load_genotype
from rapdarts.space.network import EVAL_CELLS, EVAL_CHANNELS, EvalNetwork, count_parameters
from rapdarts.storage.rundir import RunDirectory
from rapdarts.train.checkpoint import TrainedWeights, load_trained, run_kind


def _shape_of_search_run(source: str) -> DataShape | None:
    """The dataset shape a search run recorded (``None`` when SOURCE is no search run directory)."""
    path = Path(source)
    if not path.is_dir() or not (path / "environment.json").exists():
        return None
    dataset = RunDirectory(path).read_json("environment.json").get("dataset") or {}
    try:
        return DataShape.from_dict(dataset)
    except (KeyError, TypeError, ValueError):
        return None


def _check_options(weights: TrainedWeights, classes: int | None, in_channels: int | None, image_size: int | None,
                   init_channels: int | None, cells: int | None) -> None:
    weights.check_compatible(num_classes=classes, what=f"--classes {classes}")
    weights.check_compatible(in_channels=in_channels, what=f"--in-channels {in_channels}")
    config = weights.config
    if (init_channels and init_channels != config.init_channels) or (cells and cells != config.cells):
        raise RapdartsError(f"checkpoint {weights.path} holds a C={config.init_channels}, {config.cells}-cell "
                            "network; drop --init-channels/--cells (they only size untrained networks)")
    if image_size and (image_size, image_size) != weights.shape.image_size:
        raise RapdartsError(f"checkpoint {weights.path} was trained on {weights.shape.image_size[0]}x"
                            f"{weights.shape.image_size[1]} images; drop --image-size or match it")


@click.command("export")
@click.argument("source", metavar="RUN_DIR_OR_GENOTYPE")
@click.option("--onnx", "onnx_path", required=True, metavar="FILE", callback=output_file,
              help="Where to write the ONNX model.")
@click.option("--checkpoint", metavar="FILE", help="Trained weights for a genotype SOURCE (must match it).")
@click.option("--classes", type=click.IntRange(min=2),
              help="Number of classes of an untrained network [default: the run's, else 10].")
@click.option("--in-channels", type=click.IntRange(min=1),
              help="Input channels of an untrained network [default: the run's, else 3].")
@click.option("--image-size", type=click.IntRange(min=1), help="Input height and width [default: the run's, else 32].")
@click.option("--init-channels", "--channels", "init_channels", type=click.IntRange(min=2),
              help=f"Width C of an untrained network [default: {EVAL_CHANNELS}].")
@click.option("--cells", "--layers", "cells", type=click.IntRange(min=3),
              help=f"Cells of an untrained network [default: {EVAL_CELLS}].")
@click.option("--batch", default=1, type=click.IntRange(min=1), show_default=True,
              help="Batch size of the exported model (static shape).")
@click.option("--opset", default=DEFAULT_OPSET, show_default=True, help="ONNX opset.")
@click.option("--samples", default=3, type=click.IntRange(min=1), show_default=True,
              help="Random inputs ONNX Runtime is checked on.")
@click.option("--tolerance", default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest allowed |ONNX Runtime - torch| as a fraction of max(1, largest |logit|).")
@click.option("--int8", "int8_path", metavar="FILE", callback=output_file,
              help="Also write the network quantized to int8 (static, QDQ, ONNX Runtime's tooling, calibrated on "
              "training images of the run's dataset) and report its test top-1 next to fp32's (trained runs only).")
@click.option("--data-dir", metavar="DIR", help="With --int8: where the run's dataset lives [default: the run's].")
@click.option("--test-subset", type=click.IntRange(min=1), help="With --int8: compare on this many test images.")
def export_command(source: str, onnx_path: str, checkpoint: str | None, classes: int | None,
                   in_channels: int | None, image_size: int | None, init_channels: int | None, cells: int | None,
                   batch: int, opset: int, samples: int, tolerance: float, int8_path: str | None,
                   data_dir: str | None, test_subset: int | None) -> None:
    """Export the evaluation network of RUN_DIR_OR_GENOTYPE to ONNX, without the auxiliary head.

    A 'rapdarts train' run directory exports its trained weights. A search run directory, a
    genotype file or a preset exports an untrained network (random initial weights: useful for
    latency measurements, not for predictions) unless --checkpoint supplies trained weights.
    Right after export, ONNX Runtime must reproduce torch's logits on random inputs.
    """
    if batch < 1 or samples < 1:
        raise RapdartsError("--batch and --samples must be positive")
    path = Path(source)
    weights: TrainedWeights | None = None
    if path.is_dir() and (path / "config.json").exists() and run_kind(path) == "train":
        weights = load_trained(checkpoint or path)
        if checkpoint:
            weights.check_compatible(load_genotype(path), what=f"the genotype of {source}")
        genotype_text = f"trained weights from {weights.describe()}"
    elif checkpoint:
        weights = load_trained(checkpoint)
        weights.check_compatible(load_genotype(source), what=source)
        genotype_text = f"trained weights from {weights.describe()}"
    if weights is not None:
        _check_options(weights, classes, in_channels, image_size, init_channels, cells)
        model: EvalNetwork = weights.network()
        shape = weights.shape
        if not weights.finished:
            genotype_text += " (training unfinished)"
    else:
        genotype = load_genotype(source)
        recorded = _shape_of_search_run(source) or DataShape()
        size = (image_size, image_size) if image_size else recorded.image_size
        shape = DataShape(classes or recorded.num_classes, in_channels or recorded.in_channels, size)
        torch.manual_seed(0)
        model = TargetNetwork(shape, init_channels or EVAL_CHANNELS, cells or EVAL_CELLS).build(genotype)
        genotype_text = "UNTRAINED (random initial weights; train it with 'rapdarts train' for real predictions)"
    exported = export_checked(model, shape, onnx_path, batch=batch, samples=samples, tolerance=tolerance, opset=opset,
                              what=source)
    click.echo(f"{exported.path}: evaluation network of {source}, {genotype_text}")
    click.echo(f"  {shape.describe()}, batch {batch}, opset {opset}; {count_parameters(model).without_auxiliary:,} "
               "parameters (no auxiliary head)")
    click.echo(f"  ONNX Runtime matches torch on {samples} random inputs: max abs diff {exported.max_abs_diff:.3g} "
               f"(tolerance {tolerance:g} x max(1, |logit|))")
    if int8_path:
        if weights is None:
            raise RapdartsError("--int8 quantizes trained weights and compares test accuracy: give a 'rapdarts train' "
                                "run directory (or --checkpoint)")
        _export_int8(exported.onnx, weights, int8_path, batch, data_dir, test_subset)


def _export_int8(fp32: bytes, weights: TrainedWeights, int8_path: str, batch: int, data_dir: str | None,
                 test_subset: int | None) -> None:
    """Quantize the exported network on training images and compare fp32 and int8 test top-1 with ONNX Runtime."""
    from rapdarts.data import balanced_subset, load_dataset
    from rapdarts.deploy.quantize import calibration_batches, onnx_accuracy, quantize_int8
    from rapdarts.storage.atomic import atomic_write

    config = weights.config
    directory = data_dir or config.data_dir
    train = load_dataset(config.dataset, directory, train=True, image_size=config.image_size)
    test = load_dataset(config.dataset, directory, train=False, image_size=config.image_size)
    if test_subset:
        test = balanced_subset(test, test_subset)
    quantized = quantize_int8(fp32, calibration_batches(train, batch), what="the trained network")
    atomic_write(int8_path, lambda file: file.write(quantized))
    fp32_accuracy, int8_accuracy = onnx_accuracy(fp32, test, batch), onnx_accuracy(quantized, test, batch)
    click.echo(f"{int8_path}: int8 (static QDQ, calibrated on {min(32, len(train))} training images of "
               f"{config.dataset}), {len(quantized) / 1e6:.1f} MB against {len(fp32) / 1e6:.1f} MB")
    click.echo(f"  test top-1 on {len(test):,} images (ONNX Runtime): fp32 {100 * fp32_accuracy:.2f}%, int8 "
               f"{100 * int8_accuracy:.2f}% ({100 * (int8_accuracy - fp32_accuracy):+.2f} points)")
