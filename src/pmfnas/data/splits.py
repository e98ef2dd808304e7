"""Train / valid / test splits: NB201's split files, and a fixed hold-out for other datasets.

Split names (the ``split`` argument of :func:`pmfnas.data.load_dataset`):

- ``full``: the dataset's own train and test parts, no validation part.
- ``nb201``: the parts NB201 trains and evaluates on.
  ``cifar10`` is NB201's "cifar10-valid": train on the ``train`` indices of ``cifar-split.txt``
  (25,000), validate on its ``valid`` indices (25,000; both index the 50,000 training images),
  test on the 10,000 test images. ``cifar100`` trains on all 50,000 training images; its
  validation and test parts are the ``xvalid`` and ``xtest`` halves (5,000 each) of the 10,000
  test images from ``cifar100-test-split.txt``. ``ImageNet16-120`` likewise, from
  ``imagenet-16-120-test-split.txt`` (3,000 + 3,000 of the 6,000 ``val_data`` images).
- ``train-valid``: the hold-out halves of the training set, test part unchanged: ``cifar10``
  from ``cifar-split.txt``, ``ImageNet16-120`` from ``ImageNet16-120-split.txt`` (``train`` and
  ``valid``, 75,850 each of the 151,700 training images).
- ``holdout`` or ``holdout:S``: a stratified share ``S`` (default 0.2) of the training set is
  the validation part, chosen with the fixed seed 0 so every run validates on the same images.

The split files are NB201's (AutoDL-Projects ``configs/nas-benchmark/``), read from
``<data_dir>/nb201/``: a JSON object whose every entry is ``[type, [values as strings]]``, e.g.
``{"train": ["int", ["0", "5", ...]], "valid": ["int", [...]]}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from pmfnas.data.base import ImageDataset, data_root, get_entry, stratified_split
from pmfnas.errors import ConfigError, DataError

HOLDOUT_SHARE = 0.2
HOLDOUT_SEED = 0
SPLIT_FOLDER = "nb201"


@dataclass(frozen=True)
class FileSplit:
    """Two disjoint index lists of one split file that divide the ``source`` part in two.

    ``source="train"``: the first list is the new training part, the second the validation part.
    ``source="test"``: the first list is the validation part, the second the new test part.
    """

    file: str
    keys: tuple[str, str]
    source: str


CIFAR_HALVES = FileSplit("cifar-split.txt", ("train", "valid"), "train")
IMAGENET16_HALVES = FileSplit("ImageNet16-120-split.txt", ("train", "valid"), "train")
NB201_SPLITS = {
    "cifar10": CIFAR_HALVES,
    "cifar100": FileSplit("cifar100-test-split.txt", ("xvalid", "xtest"), "test"),
    "ImageNet16-120": FileSplit("imagenet-16-120-test-split.txt", ("xvalid", "xtest"), "test"),
}
TRAIN_VALID_SPLITS = {"cifar10": CIFAR_HALVES, "ImageNet16-120": IMAGENET16_HALVES}
SPLIT_TABLES = {"nb201": NB201_SPLITS, "train-valid": TRAIN_VALID_SPLITS}


def read_split_file(path: Path) -> dict[str, np.ndarray]:
    """Every ``"key": ["int", [...]]`` entry of an NB201 split file, as int64 index arrays."""
    try:
        content = json.loads(path.read_text())
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a split file (invalid JSON: {exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: not a split file (expected a JSON object)")
    indices = {}
    for key, value in content.items():
        if not (isinstance(value, list) and len(value) == 2 and value[0] == "int"):
            raise DataError(f'{path}: entry {key!r} is not ["int", [indices]]')
        try:
            indices[key] = np.array([int(v) for v in value[1]], dtype=np.int64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: entry {key!r} holds a value that is not an integer") from None
    return indices


def _checked(indices: np.ndarray, size: int, path: Path, key: str, what: str) -> np.ndarray:
    if len(indices) and (indices.min() < 0 or indices.max() >= size):
        bad = indices[(indices < 0) | (indices >= size)][0]
        raise DataError(
            f"{path}: index {bad} of {key!r} is out of range for the {size:,} {what} "
            "(an incomplete dataset?)"
        )
    if len(np.unique(indices)) != len(indices):
        raise DataError(f"{path}: {key!r} lists an index twice")
    return indices


def _apply_file_split(
    dataset: ImageDataset, spec: FileSplit, split: str, data_dir: Path | None
) -> ImageDataset:
    path = data_root(data_dir) / SPLIT_FOLDER / spec.file
    if not path.is_file():
        raise DataError(
            f"{path}: split file not found (split {split!r} of {dataset.name} needs NB201's "
            f"{spec.file}, from AutoDL-Projects configs/nas-benchmark/)"
        )
    entries = read_split_file(path)
    x, y = dataset.part(spec.source)
    what = f"{spec.source} images of {dataset.name}"
    first, second = (
        _checked(get_entry(entries, k, path), len(y), path, k, what) for k in spec.keys
    )
    if np.intersect1d(first, second).size:
        raise DataError(f"{path}: {spec.keys[0]!r} and {spec.keys[1]!r} share indices")
    first, second = torch.from_numpy(first), torch.from_numpy(second)
    if spec.source == "train":
        parts = {
            "train_x": x[first],
            "train_y": y[first],
            "valid_x": x[second],
            "valid_y": y[second],
        }
    else:
        parts = {"valid_x": x[first], "valid_y": y[first], "test_x": x[second], "test_y": y[second]}
    return replace(dataset, **parts, split=split)


def _holdout_share(split: str) -> float:
    text = split.removeprefix("holdout").removeprefix(":")
    try:
        share = float(text) if text else HOLDOUT_SHARE
    except ValueError:
        raise ConfigError(
            f"split {split!r}: expected 'holdout' or 'holdout:S' with 0 < S < 1"
        ) from None
    if not 0 < share < 1:
        raise ConfigError(f"split {split!r}: the hold-out share must be in (0, 1)")
    return share


def check_split(split: str) -> None:
    """A :class:`ConfigError` unless ``split`` is one of the names above."""
    if split.startswith("holdout"):
        _holdout_share(split)
    elif split not in ("full", *SPLIT_TABLES):
        raise ConfigError(
            f"unknown split {split!r} (known: full, nb201, train-valid, holdout, holdout:S)"
        )


def apply_split(dataset: ImageDataset, split: str, data_dir: Path | None = None) -> ImageDataset:
    """``dataset`` (as read, split ``full``) divided as ``split`` names; see the module docstring."""
    check_split(split)
    if dataset.split != "full":
        raise ConfigError(f"dataset {dataset.name} is already split ({dataset.split!r})")
    if split == "full":
        return dataset
    if split.startswith("holdout"):
        kept, held = stratified_split(dataset.train_y, 1 - _holdout_share(split), HOLDOUT_SEED)
        x, y = dataset.train_x, dataset.train_y
        return replace(
            dataset, train_x=x[kept], train_y=y[kept], valid_x=x[held], valid_y=y[held], split=split
        )
    table = SPLIT_TABLES[split]
    if dataset.name not in table:
        raise ConfigError(
            f"split {split!r} is defined for {', '.join(table)}, not {dataset.name}; "
            "use 'holdout' for a validation part"
        )
    return _apply_file_split(dataset, table[dataset.name], split, data_dir)
