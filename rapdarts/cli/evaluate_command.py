"""``rapdarts evaluate``: the test accuracy of a trained checkpoint."""

from __future__ import annotations

import json

import click
import torch

from rapdarts.data import balanced_subset, load_dataset
from rapdarts.errors import RapdartsError
from rapdarts.runtime.device import resolve_device
from rapdarts.runtime.evaluation import evaluate_classifier
from rapdarts.space.genotype import load_genotype
from rapdarts.train.checkpoint import load_trained


@click.command("evaluate")
@click.argument("source", metavar="RUN_DIR")
@click.option("--checkpoint", metavar="FILE", help="Weights to evaluate instead of RUN_DIR's checkpoint.pt (they must "
              "belong to RUN_DIR's genotype).")
@click.option("--dataset", help="Dataset to test on [default: the run's].")
@click.option("--data-dir", metavar="DIR", help="Where that dataset lives [default: the run's].")
@click.option("--image-size", type=click.IntRange(min=1), help="ImageFolder image size [default: the run's].")
@click.option("--test-subset", type=click.IntRange(min=1), help="Only this many test images, class-balanced.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Evaluation batch size.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate_command(source: str, checkpoint: str | None, dataset: str | None, data_dir: str | None,
                     image_size: int | None, test_subset: int | None, batch_size: int, device: str,
                     as_json: bool) -> None:
    """Test top-1 accuracy of the network trained in RUN_DIR (or of a checkpoint file).

    The test split is the run's unless --dataset/--data-dir say otherwise: CIFAR's 10,000 test
    images, the digits' fixed 360, or an image folder's test/ (or val/) directory.
    """
    weights = load_trained(checkpoint or source)
    if checkpoint:
        weights.check_compatible(load_genotype(source), what=f"the genotype of {source}")
    config = weights.config
    name = dataset or config.dataset
    folder = data_dir if data_dir is not None else (config.data_dir if name == config.dataset else None)
    size = image_size or (config.image_size if name == config.dataset else None)
    data = load_dataset(name, folder, train=False, image_size=size)
    if test_subset:
        data = balanced_subset(data, test_subset)
    weights.check_compatible(num_classes=data.num_classes, in_channels=data.in_channels,
                             what=f"dataset {name}")
    if data.image_size != weights.shape.image_size:
        raise RapdartsError(f"checkpoint {weights.path} was trained on {weights.shape.image_size[0]}x"
                            f"{weights.shape.image_size[1]} images, dataset {name} has {data.image_size[0]}x"
                            f"{data.image_size[1]}; pass --image-size {weights.shape.image_size[0]}")
    target = resolve_device(device)
    model = weights.network().to(target)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    result = evaluate_classifier(model, data, batch_size, target, config.channels_last)
    summary = {"checkpoint": str(weights.path), "epoch": weights.epoch, "epochs": config.epochs, "dataset": name,
               "images": result.images, "accuracy": result.accuracy, "error": result.error, "loss": result.loss}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    state = "" if weights.finished else f" (unfinished run: epoch {weights.epoch}/{config.epochs})"
    click.echo(f"{weights.path} (epoch {weights.epoch}/{config.epochs}){state}")
    click.echo(f"test accuracy {100 * result.accuracy:.2f}% (top-1 error {100 * result.error:.2f}%, loss "
               f"{result.loss:.4f}) on {result.images:,} {name} test images")
