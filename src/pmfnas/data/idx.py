"""Fashion-MNIST from its four official IDX files (gzip-compressed or not).

IDX: two zero bytes, a type code, the number of dimensions, each dimension as a big-endian
uint32, then the values row-major. A truncated gzip stream or a payload shorter or longer than
the header promises is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from pmfnas.data.base import DATASETS, ImageDataset, data_root, label_array, require_folder
from pmfnas.errors import DataError

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The published per-pixel mean and std of the 60,000 training images (0..1 scale).
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` decompressed by its suffix)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim, dtype = raw[3], _TYPES[raw[2]]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: {len(raw)} bytes, the header {shape} promises {expected}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _idx_file(folder: Path, name: str) -> Path:
    """``name.gz`` as published, else the uncompressed ``name``."""
    compressed = folder / f"{name}.gz"
    return compressed if compressed.exists() or not (folder / name).exists() else folder / name


def _read_pair(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    image_path = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
    label_path = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{image_path}: expected uint8 images (N, H, W), found {images.shape}")
    labels = label_array(labels, len(images), label_path, 0, 9)
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels)


@DATASETS.register("fashion-mnist")
def read_fashion_mnist(data_dir: Path | None = None) -> ImageDataset:
    """Fashion-MNIST (60,000 + 10,000 grey 28 x 28 images) from ``<data_dir>/fashion-mnist``."""
    folder = require_folder(
        data_root(data_dir) / "fashion-mnist",
        "the IDX files train-/t10k-images-idx3-ubyte.gz and train-/t10k-labels-idx1-ubyte.gz",
    )
    train_x, train_y = _read_pair(folder, "train")
    test_x, test_y = _read_pair(folder, "t10k")
    return ImageDataset(
        name="fashion-mnist",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=10,
        mean=FASHION_MNIST_MEAN,
        std=FASHION_MNIST_STD,
        classes=FASHION_MNIST_CLASSES,
    )
