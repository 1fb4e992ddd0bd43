"""Datasets as in-memory uint8 tensors, with batching and augmentation done on whole batches.

Search datasets are small (CIFAR-10 is 150 MB as uint8), so they are held as one ``[N, C, H, W]``
uint8 tensor; batches are sliced, moved to the device and augmented there with tensor ops. All
randomness comes from an explicit :class:`torch.Generator`, so an epoch is reproducible from its
seed, which is what makes an interrupted search resume bit-identically.

Sources: ``digits`` is scikit-learn's copy of the UCI handwritten digits (1,797 8x8 grey images,
shipped inside scikit-learn: no download); ``cifar10``/``cifar100`` come through torchvision;
``imagefolder`` is any ``class/image`` directory tree (resized to a square).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rapdarts.errors import RapdartsError

CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class DataShape:
    """What a network is built for: number of classes and the ``in_channels x H x W`` input."""

    num_classes: int = 10
    in_channels: int = 3
    image_size: tuple[int, int] = (32, 32)

    def to_dict(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "in_channels": self.in_channels,
                "image_size": list(self.image_size)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataShape:
        return cls(int(data["num_classes"]), int(data["in_channels"]), tuple(int(s) for s in data["image_size"]))

    def describe(self) -> str:
        return f"{self.num_classes} classes, {self.in_channels}x{self.image_size[0]}x{self.image_size[1]} input"


@dataclass(frozen=True)
class ImageData:
    """Images ``[N, C, H, W]`` uint8 with labels ``[N]`` and how to augment and normalise them."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int
    hflip: bool

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[-2:])  # type: ignore[return-value]

    @property
    def shape(self) -> DataShape:
        return DataShape(self.num_classes, self.in_channels, self.image_size)

    def subset(self, indices: torch.Tensor) -> ImageData:
        return replace(self, images=self.images[indices], labels=self.labels[indices])


def load_dataset(name: str, data_dir: str | None = None, train: bool = True,
                 image_size: int | None = None) -> ImageData:
    """Load the training (or test) split of a supported dataset."""
    if name == "digits":
        return _digits(train)
    if name in ("cifar10", "cifar100"):
        return _cifar(name, data_dir, train)
    if name == "imagefolder":
        return _image_folder(data_dir, train, image_size or 32)
    raise RapdartsError(f"unknown dataset {name!r}; choose one of digits, cifar10, cifar100, imagefolder")


def _digits(train: bool) -> ImageData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    # A fixed, stratified 80/20 split: the test part is never seen by search.
    train_idx, test_idx = train_test_split(np.arange(len(images)), test_size=0.2, stratify=digits.target,
                                           random_state=0)
    chosen = train_idx if train else test_idx
    return ImageData("digits", torch.from_numpy(images[chosen]), torch.from_numpy(digits.target[chosen]).long(),
                     tuple(str(i) for i in range(10)), (0.3054,), (0.3760,), crop_padding=1, hflip=False)


def _cifar(name: str, data_dir: str | None, train: bool) -> ImageData:
    import torchvision

    dataset_class = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    folder = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    if data_dir is not None and not Path(data_dir).is_dir():
        raise RapdartsError(f"data directory {data_dir} does not exist; create it (CIFAR downloads into it when "
                            "online) or point --data-dir at the folder that contains " + folder)
    root = Path(data_dir) if data_dir else Path.home() / ".cache" / "rapdarts" / "datasets"
    try:
        dataset = dataset_class(str(root), train=train, download=False)
    except RuntimeError:
        try:
            root.mkdir(parents=True, exist_ok=True)
            dataset = dataset_class(str(root), train=train, download=True)
        except Exception as error:  # noqa: BLE001 - any download failure means the same to the user
            raise RapdartsError(
                f"{name} is not in {root} and could not be downloaded ({type(error).__name__}); copy {folder} into "
                "that directory or pass --data-dir DIR containing it"
            ) from None
    images = torch.from_numpy(np.asarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
    stats = CIFAR10_STATS if name == "cifar10" else CIFAR100_STATS
    return ImageData(name, images, torch.tensor(dataset.targets, dtype=torch.long), tuple(dataset.classes),
                     *stats, crop_padding=4, hflip=True)


def _image_folder(data_dir: str | None, train: bool, size: int) -> ImageData:
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import ImageFolder

    if not data_dir:
        raise RapdartsError("dataset imagefolder needs --data-dir pointing at the image folder")
    root = Path(data_dir)
    if not root.is_dir():
        raise RapdartsError(f"data directory {root} does not exist")
    split = ("train",) if train else ("test", "val")
    chosen = next((root / s for s in split if (root / s).is_dir()), None)
    if chosen is None:
        if not train:
            raise RapdartsError(f"{root} has no test/ or val/ folder for evaluation")
        chosen = root
    try:
        folder = ImageFolder(str(chosen))
    except (FileNotFoundError, RuntimeError) as error:
        raise RapdartsError(f"{chosen} is not an image folder (expected CLASS/IMAGE files): {error}") from None
    images = np.empty((len(folder.samples), size, size, 3), dtype=np.uint8)
    for index, (path, _) in enumerate(folder.samples):
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.BILINEAR)
                images[index] = np.asarray(image)
        except (OSError, UnidentifiedImageError) as error:
            raise RapdartsError(f"cannot read image {path}: {error}") from None
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in folder.samples], dtype=torch.long)
    return ImageData("imagefolder", tensor, labels, tuple(folder.classes), *IMAGENET_STATS,
                     crop_padding=max(1, size // 8), hflip=True)


def balanced_subset(data: ImageData, count: int) -> ImageData:
    """The first ``count // classes`` images of every class (deterministic, class-balanced)."""
    if count >= len(data):
        return data
    per_class = max(1, count // data.num_classes)
    chosen = [torch.nonzero(data.labels == label).flatten()[:per_class] for label in range(data.num_classes)]
    return data.subset(torch.sort(torch.cat(chosen)).values)


def stratified_split(labels: torch.Tensor, portion: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle each class with ``seed`` and give ``portion`` of it to the first index set.

    P-DARTS splits CIFAR's (already random) order in halves; shuffling per class does the same for
    class-sorted sources such as image folders.
    """
    generator = torch.Generator().manual_seed(seed)
    first, second = [], []
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        cut = int(round(len(members) * portion))
        first.append(members[:cut])
        second.append(members[cut:])
    return torch.sort(torch.cat(first)).values, torch.sort(torch.cat(second)).values


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back to size at a random offset per image."""
    if padding <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_hflip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def cutout(images: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length x length`` square per image at a random centre (DeVries & Taylor 2017)."""
    if length <= 0:
        return images
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(images.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(images.device)
    ys = torch.arange(h, device=images.device)[None, :, None]
    xs = torch.arange(w, device=images.device)[None, None, :]
    half = length // 2
    inside = (ys >= (cy - half)[:, None, None]) & (ys < (cy + length - half)[:, None, None]) & \
             (xs >= (cx - half)[:, None, None]) & (xs < (cx + length - half)[:, None, None])
    return images * (~inside)[:, None].to(images.dtype)


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` to float, scaled to [0, 1] and standardised per channel."""
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images.float().div_(255.0) - mean_t) / std_t


@dataclass
class Batches:
    """Shuffled mini-batches of ``data`` on ``device``, augmented when ``augment`` is set.

    Iterating draws the order and the augmentation from ``generator``; a partial last batch is
    dropped (as a batch of one would break batch norm), unless it is the only batch.
    """

    data: ImageData
    batch_size: int
    device: torch.device
    augment: bool = True
    shuffle: bool = True
    cutout_length: int = 0
    channels_last: bool = False

    def __len__(self) -> int:
        return max(1, len(self.data) // self.batch_size)

    def iterate(self, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        full = len(self) * self.batch_size if n >= self.batch_size else n
        for start in range(0, full, self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.prepare(self.data.images[index], generator), self.data.labels[index].to(self.device)

    def prepare(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self.augment:
            assert generator is not None, "augmentation needs a generator"
            images = random_crop(images, self.data.crop_padding, generator)
            if self.data.hflip:
                images = random_hflip(images, generator)
        x = normalize(images, self.data.mean, self.data.std)
        if self.augment and self.cutout_length:
            x = cutout(x, self.cutout_length, generator)  # type: ignore[arg-type]
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def evaluation_batches(data: ImageData, batch_size: int, device: torch.device,
                       channels_last: bool = False) -> Batches:
    """Every image once, in order, without augmentation (the last partial batch included)."""
    return _AllBatches(data, batch_size, device, augment=False, shuffle=False, channels_last=channels_last)


class _AllBatches(Batches):
    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def iterate(self, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.data), self.batch_size):
            images = self.data.images[start:start + self.batch_size]
            yield self.prepare(images, None), self.data.labels[start:start + self.batch_size].to(self.device)
