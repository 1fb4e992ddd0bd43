"""Datasets, splits and batch augmentation."""

from __future__ import annotations

import pytest
import torch

from rapdarts.data import (
    Batches,
    balanced_subset,
    cutout,
    evaluation_batches,
    load_dataset,
    random_crop,
    stratified_split,
)
from rapdarts.errors import RapdartsError


def test_embedded_digits_need_no_download():
    train, test = load_dataset("digits"), load_dataset("digits", train=False)
    assert train.images.shape == (1437, 1, 8, 8) and train.images.dtype == torch.uint8
    assert len(test) == 360 and train.num_classes == 10
    assert int(train.images.max()) == 255


def test_balanced_subset_and_stratified_split_are_disjoint_and_balanced():
    data = balanced_subset(load_dataset("digits"), 500)
    assert len(data) == 500 and torch.bincount(data.labels).tolist() == [50] * 10
    first, second = stratified_split(data.labels, 0.5, seed=0)
    assert len(set(first.tolist()) & set(second.tolist())) == 0 and len(first) + len(second) == 500
    assert torch.bincount(data.labels[first]).tolist() == [25] * 10
    assert torch.equal(stratified_split(data.labels, 0.5, seed=0)[0], first)
    assert not torch.equal(stratified_split(data.labels, 0.5, seed=1)[0], first)


def test_random_crop_moves_content_by_at_most_the_padding():
    images = torch.arange(1, 17, dtype=torch.uint8).view(1, 1, 4, 4).repeat(50, 1, 1, 1)
    crops = random_crop(images, 1, torch.Generator().manual_seed(0))
    assert crops.shape == images.shape
    for crop in crops:
        present = crop[crop > 0]
        assert len(present) >= 9  # a shift of at most one pixel each way keeps a 3x3 core
    assert len({tuple(c.flatten().tolist()) for c in crops}) == 9  # all 3x3 offsets occur


def test_cutout_zeroes_a_square_of_the_given_length():
    out = cutout(torch.ones(200, 1, 32, 32), 16, torch.Generator().manual_seed(0))
    zeros = (out == 0).flatten(1).sum(1)
    assert zeros.max() == 256 and zeros.min() > 0  # clipped at the borders, full inside


def test_batches_are_reproducible_from_the_generator():
    data = balanced_subset(load_dataset("digits"), 200)
    batches = Batches(data, 32, torch.device("cpu"))
    a = [x for x, _ in batches.iterate(torch.Generator().manual_seed(3))]
    b = [x for x, _ in batches.iterate(torch.Generator().manual_seed(3))]
    assert len(a) == len(batches) == 6 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert sum(len(y) for _, y in evaluation_batches(data, 32, torch.device("cpu")).iterate()) == 200


def test_image_folder_with_train_and_test_splits(image_folder):
    data = load_dataset("imagefolder", str(image_folder))
    assert data.images.shape == (24, 3, 32, 32) and data.classes == ("digit0", "digit1", "digit2")
    assert len(load_dataset("imagefolder", str(image_folder), train=False)) == 24
    assert load_dataset("imagefolder", str(image_folder), image_size=16).images.shape[-1] == 16


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagefolder"])
def test_missing_data_directory_is_a_clear_error(name, tmp_path):
    with pytest.raises(RapdartsError, match="does not exist"):
        load_dataset(name, str(tmp_path / "absent"))


def test_cifar_without_files_offline_explains_what_to_copy(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    with pytest.raises(RapdartsError, match="cifar-10-batches-py"):
        load_dataset("cifar10", str(tmp_path))
