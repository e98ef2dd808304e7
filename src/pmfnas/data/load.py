"""One entry point for every dataset: a registered name or a path to an image folder."""

from __future__ import annotations

from pathlib import Path

from pmfnas.data import cifar, digits, idx, imagenet16  # noqa: F401  (importing registers them)
from pmfnas.data.base import DATASETS, ImageDataset, check_fraction, take_fraction
from pmfnas.data.folder import DEFAULT_SIZE, read_image_folder
from pmfnas.data.splits import apply_split, check_split
from pmfnas.errors import ConfigError, DataError, RegistryError


def _read(name_or_path: str, data_dir: Path | None, image_size: int | None) -> ImageDataset:
    names = {name.lower(): name for name in DATASETS.names()}
    name = names.get(name_or_path.lower())
    if name is not None:
        if image_size is not None:
            raise ConfigError(f"image_size applies to image folders, not to {name}")
        return DATASETS.get(name)(data_dir)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return read_image_folder(path, DEFAULT_SIZE if image_size is None else image_size)
    if path.exists() or path.parent != Path("."):  # a file, or clearly meant as a path
        raise DataError(f"{path}: no such image folder (expected root/<class>/<image>)")
    raise RegistryError(
        f"unknown dataset {name_or_path!r} (known: {', '.join(DATASETS.names())}, "
        "or the path of an image folder)"
    )


def load_dataset(
    name_or_path: str,
    data_dir: Path | str | None = None,
    *,
    split: str = "full",
    fraction: float = 1.0,
    seed: int = 0,
    image_size: int | None = None,
) -> ImageDataset:
    """Read a dataset into memory, divide it as ``split`` says and keep ``fraction`` of its training part.

    Args:
        name_or_path: ``cifar10``, ``cifar100``, ``ImageNet16-120``, ``fashion-mnist``, ``digits``
            (any case; see :data:`DATASETS`) or the path of an image folder ``root/<class>/<image>``.
        data_dir: the folder holding the datasets and ``nb201/`` split files; default
            ``$PMFNAS_DATA``. ``digits`` and image folders need none unless a split file does.
        split: ``full``, ``nb201``, ``train-valid``, ``holdout`` or ``holdout:S`` (see
            :mod:`pmfnas.data.splits`). Splits are fixed: they do not depend on ``seed``.
        fraction: the share of the (split) training part to keep, stratified by class, at least
            one image per class; a fidelity knob. Validation and test parts are never reduced.
        seed: chooses the fractional subset; the same seed gives the same subset, and with the
            same seed a smaller fraction keeps a subset of a larger one.
        image_size: image folders only: the side every image is resized to (default 32).

    Raises:
        DataError: a missing, truncated or mislabelled file (the message names it).
        RegistryError: an unknown dataset name that is not a folder either.
        ConfigError: an unknown split, or a fraction outside (0, 1].
    """
    check_fraction(fraction)
    check_split(split)  # both before the (possibly long) read
    root = Path(data_dir) if data_dir is not None else None
    dataset = apply_split(_read(name_or_path, root, image_size), split, root)
    return take_fraction(dataset, fraction, seed)
