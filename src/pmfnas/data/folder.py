"""Any image folder laid out ``root/<class>/<image>``, read with Pillow (``.npy`` arrays too).

Classes are the sub-folder names in sorted order. If ``root`` holds exactly two sub-folders,
``train`` and ``test`` (or ``val``), each laid out by class, they are the two parts; otherwise a
fixed stratified fifth of each class (seed 0, whatever the search seed) is the test part. Every
image is scaled so its shorter side is ``image_size`` (bilinear) and centre-cropped to a square.
Files with other suffixes (``README``, ``.DS_Store``) are skipped. Images are read as RGB; if every
image turns out grey (equal channels), one channel is kept. Mean and std are measured on the
training part, and images are assumed natural (a horizontal flip keeps the class).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pmfnas.data.base import ImageDataset, channel_stats, require_folder, stratified_split
from pmfnas.errors import ConfigError, DataError

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp"}
)
ARRAY_SUFFIX = ".npy"
DEFAULT_SIZE = 32
TEST_SHARE = 0.2
SPLIT_SEED = 0


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _open(path: Path) -> Image.Image:
    """An RGB Pillow image of an image file, or of a uint8 ``(H, W)`` / ``(H, W, 1|3)`` array."""
    if path.suffix.lower() != ARRAY_SUFFIX:
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: not a readable image ({exc})") from None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    if array.dtype != np.uint8 or not (
        array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3))
    ):
        raise DataError(
            f"{path}: expected a uint8 (H, W) or (H, W, 1|3) array, found {array.shape}"
        )
    return Image.fromarray(array.squeeze(2) if array.ndim == 3 and array.shape[2] == 1 else array)


def _square(image: Image.Image, size: int) -> np.ndarray:
    """``image`` with its shorter side scaled to ``size`` and centre-cropped, as ``(3, size, size)``."""
    width, height = image.size
    if (width, height) != (size, size):
        scale = size / min(width, height)
        width, height = max(size, round(width * scale)), max(size, round(height * scale))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image).transpose(2, 0, 1)


def _read_classes(folder: Path, classes: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image under ``folder/<class>/`` as ``(N, 3, size, size)`` uint8 with int64 labels."""
    class_dirs = _subfolders(folder)
    if not class_dirs:
        raise DataError(f"{folder}: no class folders (expected <class>/<image> inside)")
    images, labels = [], []
    for class_dir in class_dirs:
        if class_dir.name not in classes:
            raise DataError(f"{class_dir}: class {class_dir.name!r} is not among {classes}")
        files = sorted(
            p
            for p in class_dir.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | {ARRAY_SUFFIX}
        )
        if not files:
            raise DataError(
                f"{class_dir}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}, .npy)"
            )
        images += [_square(_open(path), size) for path in files]
        labels += [classes.index(class_dir.name)] * len(files)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


def read_image_folder(root: Path | str, image_size: int = DEFAULT_SIZE) -> ImageDataset:
    """The dataset of an image folder, laid out and resized as the module docstring says."""
    if image_size < 1:
        raise ConfigError(f"image_size must be positive, got {image_size}")
    root = require_folder(Path(root).expanduser(), "class folders root/<class>/<image>")
    names = [p.name for p in _subfolders(root)]
    if set(names) in ({"train", "test"}, {"train", "val"}):
        classes = [p.name for p in _subfolders(root / "train")]
        train_x, train_y = _read_classes(root / "train", classes, image_size)
        test_x, test_y = _read_classes(root / (set(names) - {"train"}).pop(), classes, image_size)
    else:
        classes = names
        images, labels = _read_classes(root, classes, image_size)
        train, test = stratified_split(labels, 1 - TEST_SHARE, SPLIT_SEED)
        train_x, train_y, test_x, test_y = images[train], labels[train], images[test], labels[test]
    if all(bool((x[:, 1:] == x[:, :1]).all()) for x in (train_x, test_x)):
        train_x, test_x = train_x[:, :1].contiguous(), test_x[:, :1].contiguous()
    mean, std = channel_stats(train_x)
    return ImageDataset(
        name=str(root.resolve()),
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=len(classes),
        mean=mean,
        std=std,
        classes=tuple(classes),
    )
