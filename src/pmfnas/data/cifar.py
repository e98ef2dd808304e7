"""CIFAR-10 and CIFAR-100 in the official "python version" layout.

``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
``batches.meta``; ``cifar-100-python/``: ``train``, ``test`` and ``meta``. Each batch is a
Python-2 pickle of a dict with ``data`` (``uint8`` N x 3072: the red, green and blue 32 x 32
planes, row-major) and ``labels`` (CIFAR-100: ``fine_labels``). The files are read with the
restricted unpickler in latin-1 mode and ``bytes`` keys are accepted, so both the official files
and re-pickled copies load; the number of images per batch is not assumed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pmfnas.data.base import (
    DATASETS,
    ImageDataset,
    data_root,
    flat_images,
    get_entry,
    label_array,
    require_folder,
    str_keys,
)
from pmfnas.errors import DataError
from pmfnas.safe_pickle import load_pickle

# NB201's constants (AutoDL-Projects ``get_datasets``): the per-channel mean and std of the
# training pixels, on the 0..255 scale.
CIFAR10_MEAN = tuple(v / 255 for v in (125.3, 123.0, 113.9))
CIFAR10_STD = tuple(v / 255 for v in (63.0, 62.1, 66.7))
CIFAR100_MEAN = tuple(v / 255 for v in (129.3, 124.1, 112.4))
CIFAR100_STD = tuple(v / 255 for v in (68.2, 65.4, 70.4))


def read_cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` and int64 labels of one batch file, checked against each other."""
    entry = str_keys(load_pickle(path, encoding="latin1"), path)
    images = flat_images(get_entry(entry, "data", path), 3, 32, path)
    labels = label_array(get_entry(entry, label_key, path), len(images), path, 0, num_classes - 1)
    return images, labels


def _class_names(path: Path, key: str, num_classes: int) -> tuple[str, ...]:
    """Class names from the meta file; numbers when the file is absent (it is optional)."""
    if not path.is_file():
        return tuple(str(i) for i in range(num_classes))
    names = get_entry(str_keys(load_pickle(path, encoding="latin1"), path), key, path)
    if len(names) != num_classes:
        raise DataError(f"{path}: {len(names)} names in {key!r}, expected {num_classes}")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def _read(
    folder: Path, train: list[str], test: str, label_key: str, num_classes: int
) -> tuple[torch.Tensor, ...]:
    parts = []
    for names in (train, [test]):
        batches = [read_cifar_batch(folder / name, label_key, num_classes) for name in names]
        parts.append(torch.from_numpy(np.concatenate([b[0] for b in batches])))
        parts.append(torch.from_numpy(np.concatenate([b[1] for b in batches])))
    return tuple(parts)


@DATASETS.register("cifar10")
def read_cifar10(data_dir: Path | None = None) -> ImageDataset:
    """CIFAR-10 from ``<data_dir>/cifar-10-batches-py`` (50,000 + 10,000 images when complete)."""
    folder = require_folder(
        data_root(data_dir) / "cifar-10-batches-py",
        "the CIFAR-10 python version: data_batch_1..5 and test_batch",
    )
    train = [f"data_batch_{i}" for i in range(1, 6)]
    train_x, train_y, test_x, test_y = _read(folder, train, "test_batch", "labels", 10)
    return ImageDataset(
        name="cifar10",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        classes=_class_names(folder / "batches.meta", "label_names", 10),
    )


@DATASETS.register("cifar100")
def read_cifar100(data_dir: Path | None = None) -> ImageDataset:
    """CIFAR-100 (fine labels) from ``<data_dir>/cifar-100-python``."""
    folder = require_folder(
        data_root(data_dir) / "cifar-100-python",
        "the CIFAR-100 python version: train, test and meta",
    )
    train_x, train_y, test_x, test_y = _read(folder, ["train"], "test", "fine_labels", 100)
    return ImageDataset(
        name="cifar100",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=100,
        mean=CIFAR100_MEAN,
        std=CIFAR100_STD,
        classes=_class_names(folder / "meta", "fine_label_names", 100),
    )
