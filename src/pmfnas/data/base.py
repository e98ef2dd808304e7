"""The in-memory dataset type, the reader registry, normalisation and seeded stratified subsets.

Every reader returns an :class:`ImageDataset` whose images are ``uint8`` tensors ``(N, C, H, W)``:
a quarter of the memory of float32, and the exact pixels of the file. Normalisation to float
happens per batch (:meth:`ImageDataset.normalize`), on whichever device the batch is going to.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pmfnas.data.augment import random_crop_flip, resize
from pmfnas.errors import ConfigError, DataError
from pmfnas.registry import Registry

Reader = Callable[[Path | None], "ImageDataset"]
"""A reader takes the data folder (``None``: ``$PMFNAS_DATA``) and returns the full dataset."""

DATASETS: Registry[Reader] = Registry("dataset")
"""Named dataset readers; :func:`pmfnas.data.load_dataset` looks names up here."""

PARTS = ("train", "valid", "test")


@dataclass(frozen=True, eq=False, repr=False)
class ImageDataset:
    """Train / (optional) valid / test images and labels of one image-classification dataset.

    Images are ``(N, C, H, W)`` tensors, ``uint8`` (0..255) or floating point (0..1); labels are
    ``int64`` class ids in ``0 .. num_classes - 1``. ``mean`` and ``std`` are per-channel
    constants on the 0..1 scale; ``flip_invariant`` says whether a horizontal flip keeps an
    image's class (true for natural images, false for digits), so augmentation knows whether
    to flip.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    valid_x: Tensor | None = None
    valid_y: Tensor | None = None
    classes: tuple[str, ...] = ()
    flip_invariant: bool = True
    split: str = "full"

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            classes = "1 class" if self.num_classes == 1 else f"{self.num_classes} classes"
            raise DataError(f"dataset {self.name} has {classes}; classification needs at least 2")
        if (self.valid_x is None) != (self.valid_y is None):
            raise DataError(f"dataset {self.name}: valid_x and valid_y must be given together")
        if self.classes and len(self.classes) != self.num_classes:
            raise DataError(f"dataset {self.name}: {len(self.classes)} class names")
        if not len(self.mean) == len(self.std) == self.channels:
            raise DataError(f"dataset {self.name}: mean/std need one value per channel")
        for part in PARTS:
            if self.has(part):
                self._check_part(part, *self.part(part))

    def _check_part(self, part: str, x: Tensor, y: Tensor) -> None:
        where = f"dataset {self.name}, {part} part"
        if len(y) == 0:
            raise DataError(f"{where}: no images (too few to divide into parts)")
        if x.ndim != 4 or x.shape[1:] != self.train_x.shape[1:]:
            raise DataError(f"{where}: images of shape {tuple(x.shape)}, expected (N, C, H, W)")
        if y.dtype != torch.int64 or y.shape != (len(x),):
            raise DataError(f"{where}: labels must be int64 with one label per image")
        if len(y) and not 0 <= int(y.min()) <= int(y.max()) < self.num_classes:
            raise DataError(f"{where}: labels outside 0..{self.num_classes - 1}")

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.train_x.shape[2], self.train_x.shape[3]

    def has(self, part: str) -> bool:
        """Whether ``part`` (``train``, ``valid`` or ``test``) is present."""
        return part != "valid" or self.valid_x is not None

    def part(self, part: str) -> tuple[Tensor, Tensor]:
        """The (images, labels) of ``part``; a :class:`ConfigError` if the split lacks it."""
        if part not in PARTS:
            raise ConfigError(f"unknown dataset part {part!r} (expected one of {PARTS})")
        if not self.has(part):
            raise ConfigError(
                f"dataset {self.name} loaded with split {self.split!r} has no validation part "
                "(use split='nb201', 'train-valid' or 'holdout')"
            )
        return getattr(self, f"{part}_x"), getattr(self, f"{part}_y")

    def normalize(
        self,
        images: Tensor,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """``(images / 255 - mean) / std`` as ``dtype`` on ``device`` (float input is taken as 0..1)."""
        x = images.to(device or images.device, dtype)
        if not images.is_floating_point():
            x = x / 255
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=dtype, device=x.device).view(shape)
        return (x - mean) / std

    def batches(
        self,
        part: str = "train",
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        augment: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Normalised float batches ``(x, y)`` of ``part``.

        The raw batch moves to ``device`` first (``uint8``: four times less to copy), then is
        augmented (random crop with ``crop_padding`` zero padding, plus a horizontal flip if the
        dataset is ``flip_invariant``) and normalised there. ``generator`` (a CPU generator)
        drives the shuffle and the augmentation, so a seeded generator gives the same batches.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        x, y = self.part(part)
        device = device or x.device
        order = torch.randperm(len(y), generator=generator) if shuffle else None
        stop = len(y) - len(y) % batch_size if drop_last else len(y)
        for start in range(0, stop, batch_size):
            index = (
                slice(start, start + batch_size)
                if order is None
                else order[start : start + batch_size]
            )
            xb, yb = x[index].to(device), y[index].to(device)
            if augment:
                xb = random_crop_flip(
                    xb, generator, padding=self.crop_padding, flip=self.flip_invariant
                )
            yield self.normalize(xb), yb

    def resized(self, size: int) -> ImageDataset:
        """The dataset with every image resized to ``size x size`` (the resolution fidelity)."""
        if size < 1:
            raise ConfigError(f"image size must be positive, got {size}")
        parts = {f"{p}_x": resize(self.part(p)[0], size) for p in PARTS if self.has(p)}
        return replace(self, **parts)

    @property
    def crop_padding(self) -> int:
        """NB201's random-crop padding: 4 pixels at 32 px, 2 at 16 px (an eighth of the side)."""
        return max(1, min(self.image_size) // 8)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{p}={len(self.part(p)[1])}" for p in PARTS if self.has(p))
        c, (h, w) = self.channels, self.image_size
        return (
            f"ImageDataset({self.name!r}, split={self.split!r}, {sizes}, "
            f"images={c}x{h}x{w}, classes={self.num_classes})"
        )


def data_root(data_dir: Path | str | None) -> Path:
    """``data_dir``, else ``$PMFNAS_DATA``; a :class:`DataError` when neither is given."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("PMFNAS_DATA")
    if not env:
        raise DataError("no data folder: pass data_dir or set PMFNAS_DATA")
    return Path(env)


def require_folder(folder: Path, what: str) -> Path:
    """``folder`` itself, or a :class:`DataError` naming it and what it should hold."""
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found (expected {what})")
    return folder


def str_keys(entry: Any, source: Path) -> dict[str, Any]:
    """A pickled dict with ``bytes`` keys (Python-2 pickles read with ``encoding='bytes'``) as ``str``."""
    if not isinstance(entry, dict):
        raise DataError(f"{source}: expected a pickled dict, found {type(entry).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def get_entry(entry: dict[str, Any], key: str, source: Path) -> Any:
    """``entry[key]``, or a :class:`DataError` naming the file and the missing key."""
    if key not in entry:
        raise DataError(f"{source}: no {key!r} entry (found {sorted(entry)})")
    return entry[key]


def flat_images(data: Any, channels: int, size: int, source: Path) -> np.ndarray:
    """Rows of ``channels * size * size`` uint8 pixels, channel-first, as ``(N, C, H, W)``."""
    width = channels * size * size
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype != np.uint8:
        found = f"{getattr(data, 'dtype', type(data).__name__)} {np.shape(data)}"
        raise DataError(f"{source}: 'data' must be a uint8 array (N, {width}), found {found}")
    if data.shape[1] != width:
        raise DataError(
            f"{source}: 'data' rows hold {data.shape[1]} values, expected {width} "
            f"({channels}x{size}x{size})"
        )
    return data.reshape(-1, channels, size, size)


def label_array(labels: Any, count: int, source: Path, low: int, high: int) -> np.ndarray:
    """``count`` integer labels, each in ``low..high``, as int64; else a :class:`DataError`."""
    array = np.asarray(labels)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise DataError(f"{source}: labels must be a flat list of integers")
    if len(array) != count:
        raise DataError(f"{source}: {len(array)} labels for {count} images")
    if array.size and not low <= array.min() <= array.max() <= high:
        bad = array[(array < low) | (array > high)][0]
        raise DataError(f"{source}: label {bad} outside {low}..{high}")
    return array.astype(np.int64)


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (0..1 scale) of ``uint8`` images, in float64 chunks to save memory.

    The std is floored at one grey level (1/255) so a constant channel cannot divide by zero.
    """
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].to(torch.float64) / 255
        total += part.sum((0, 2, 3))
        squares += part.square().sum((0, 2, 3))
    count = images.numel() // channels
    mean = total / count
    std = (squares / count - mean.square()).clamp(min=0).sqrt().clamp(min=1 / 255)
    return tuple(mean.tolist()), tuple(std.tolist())


def stratified_split(labels: Tensor, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """Seeded stratified ``(kept, rest)`` index tensors, both in ascending order.

    Each class keeps ``round(share * n_c)`` of its ``n_c`` images, at least one, chosen by a
    per-class permutation drawn in class order from ``torch.Generator().manual_seed(seed)``.
    Because the permutation does not depend on ``share``, a smaller share with the same seed
    keeps a subset of what a larger one keeps (nested fidelities).
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels).tolist()
    kept, rest = [], []
    for members in torch.split(order, counts):
        n = len(members)
        members = members[torch.randperm(n, generator=generator)]
        k = min(n, max(1, math.floor(share * n + 0.5)))
        kept.append(members[:k])
        rest.append(members[k:])
    return torch.cat(kept).sort().values, torch.cat(rest).sort().values


def check_fraction(fraction: float) -> None:
    """A :class:`ConfigError` unless ``0 < fraction <= 1``."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction}")


def cap_images(dataset: ImageDataset, part: str, images: int, seed: int) -> ImageDataset:
    """``dataset`` with at most about ``images`` images in ``part`` (a seeded stratified share;
    0 or a part that is small enough: unchanged), so that a setting meant for a large dataset
    keeps all of a small one."""
    if not images or not dataset.has(part) or len(dataset.part(part)[1]) <= images:
        return dataset
    return take_fraction(dataset, images / len(dataset.part(part)[1]), seed, part=part)


def take_fraction(
    dataset: ImageDataset, fraction: float, seed: int, part: str = "train"
) -> ImageDataset:
    """``dataset`` with a seeded stratified ``fraction`` of the images of ``part`` (training
    images: a fidelity knob; validation images: a cheaper search signal)."""
    check_fraction(fraction)
    if fraction == 1:
        return dataset
    x, y = dataset.part(part)
    kept, _ = stratified_split(y, fraction, seed)
    return replace(dataset, **{f"{part}_x": x[kept], f"{part}_y": y[kept]})
