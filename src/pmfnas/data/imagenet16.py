"""ImageNet16-120: NB201's 16 x 16 downsampled ImageNet restricted to its first 120 classes.

The folder ``<data_dir>/ImageNet16`` holds the downsampled-ImageNet pickles ``train_data_batch_1``
.. ``train_data_batch_10`` and ``val_data``, each a dict with ``data`` (``uint8`` N x 768: the red,
green and blue 16 x 16 planes, row-major) and ``labels`` (1-based ImageNet class ids, 1..1000).
As NB201 does, only images with a label in 1..120 are kept, in file order, and their labels
become 0..119 (complete data: 151,700 training and 6,000 validation images). Each file is
filtered as it is read, so the 1000-class arrays never sit in memory together.
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
from pmfnas.safe_pickle import load_pickle

NUM_CLASSES = 120
TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
VALID_FILE = "val_data"

# NB201's constants (AutoDL-Projects ``get_datasets``), on the 0..255 scale.
IMAGENET16_MEAN = tuple(v / 255 for v in (122.68, 116.66, 104.01))
IMAGENET16_STD = tuple(v / 255 for v in (63.22, 61.26, 65.09))


def read_imagenet16_file(
    path: Path, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 16, 16)`` of classes ``1..num_classes`` in ``path``, labels made 0-based."""
    entry = str_keys(load_pickle(path, encoding="latin1"), path)
    images = flat_images(get_entry(entry, "data", path), 3, 16, path)
    labels = label_array(get_entry(entry, "labels", path), len(images), path, 1, 1000)
    keep = labels <= num_classes
    return images[keep], labels[keep] - 1


def _read_files(folder: Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_imagenet16_file(folder / name) for name in names]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    return images, torch.from_numpy(np.concatenate([p[1] for p in parts]))


@DATASETS.register("ImageNet16-120")
def read_imagenet16_120(data_dir: Path | None = None) -> ImageDataset:
    """ImageNet16-120 from ``<data_dir>/ImageNet16``; the test part is NB201's ``val_data``."""
    folder = require_folder(
        data_root(data_dir) / "ImageNet16",
        "NB201's ImageNet16 pickles: train_data_batch_1..10 and val_data",
    )
    train_x, train_y = _read_files(folder, TRAIN_FILES)
    test_x, test_y = _read_files(folder, (VALID_FILE,))
    return ImageDataset(
        name="ImageNet16-120",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=NUM_CLASSES,
        mean=IMAGENET16_MEAN,
        std=IMAGENET16_STD,
    )
