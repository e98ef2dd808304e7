"""The ImageNet16-120 reader on small files written here in NB201's exact format."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.data.imagenet16 import IMAGENET16_MEAN, IMAGENET16_STD, TRAIN_FILES
from pmfnas.errors import DataError

# 1-based ImageNet labels: the edges of the kept range 1..120 and some that must be dropped.
TRAIN_LABELS = [1, 120, 121, 7, 1000, 60, 500, 2]
VAL_LABELS = [3, 999, 120, 1, 121, 44]


def write_file(
    path: Path, images: np.ndarray, labels: list[int], *, byte_keys: bool = False
) -> None:
    """A downsampled-ImageNet pickle: ``data`` (N x 768 uint8, channel-first) and ``labels``."""
    entry = {"data": images.reshape(len(images), -1), "labels": labels}
    if path.name.startswith("train"):
        entry["mean"] = np.zeros(768)  # the training files also carry the mean image
    if byte_keys:
        entry = {k.encode(): v for k, v in entry.items()}
    path.write_bytes(pickle.dumps(entry, protocol=2))


def make_imagenet16(root: Path, *, byte_keys: bool = False) -> dict[str, np.ndarray]:
    """An ``ImageNet16`` folder; returns each file's images."""
    rng = np.random.default_rng(0)
    folder = root / "ImageNet16"
    folder.mkdir(parents=True)
    written = {}
    for name in [*TRAIN_FILES, "val_data"]:
        labels = VAL_LABELS if name == "val_data" else TRAIN_LABELS
        images = rng.integers(0, 256, (len(labels), 3, 16, 16), dtype=np.uint8)
        write_file(folder / name, images, labels, byte_keys=byte_keys)
        written[name] = images
    return written


@pytest.mark.parametrize("byte_keys", [False, True])
def test_keeps_classes_1_to_120_and_makes_labels_0_based(tmp_path: Path, byte_keys: bool) -> None:
    written = make_imagenet16(tmp_path, byte_keys=byte_keys)
    data = load_dataset("ImageNet16-120", tmp_path)
    keep_train = np.array([1 <= v <= 120 for v in TRAIN_LABELS])
    keep_val = np.array([1 <= v <= 120 for v in VAL_LABELS])
    assert data.num_classes == 120 and data.train_x.shape[1:] == (3, 16, 16)
    assert len(data.train_y) == 10 * keep_train.sum() and len(data.test_y) == keep_val.sum()
    expected = [v - 1 for v in TRAIN_LABELS if v <= 120]
    assert data.train_y.tolist() == expected * 10
    assert data.test_y.tolist() == [2, 119, 0, 43]
    train = np.concatenate([written[n][keep_train] for n in TRAIN_FILES])
    assert np.array_equal(data.train_x.numpy(), train)
    assert np.array_equal(data.test_x.numpy(), written["val_data"][keep_val])
    assert data.mean == IMAGENET16_MEAN and data.std == IMAGENET16_STD
    assert data.crop_padding == 2  # NB201: RandomCrop(16, padding=2)


def test_nb201_and_train_valid_splits(tmp_path: Path) -> None:
    make_imagenet16(tmp_path)
    split_dir = tmp_path / "nb201"
    split_dir.mkdir()
    halves = {"xvalid": ["int", ["0", "3"]], "xtest": ["int", ["1", "2"]]}
    (split_dir / "imagenet-16-120-test-split.txt").write_text(json.dumps(halves))
    full = load_dataset("ImageNet16-120", tmp_path)
    data = load_dataset("ImageNet16-120", tmp_path, split="nb201")
    assert data.split == "nb201"
    assert torch.equal(data.train_x, full.train_x)
    assert torch.equal(data.valid_x, full.test_x[[0, 3]])
    assert data.valid_y.tolist() == [2, 43] and data.test_y.tolist() == [119, 0]
    n = len(full.train_y)
    train, valid = list(range(0, n, 2)), list(range(1, n, 2))
    held = {"train": ["int", [str(i) for i in train]], "valid": ["int", [str(i) for i in valid]]}
    (split_dir / "ImageNet16-120-split.txt").write_text(json.dumps(held))
    data = load_dataset("ImageNet16-120", tmp_path, split="train-valid")
    assert torch.equal(data.train_x, full.train_x[train])
    assert torch.equal(data.valid_y, full.train_y[valid])
    assert torch.equal(data.test_x, full.test_x)


def test_zero_based_labels_are_an_error(tmp_path: Path) -> None:
    make_imagenet16(tmp_path)
    path = tmp_path / "ImageNet16" / "val_data"
    write_file(path, np.zeros((3, 3, 16, 16), np.uint8), [0, 1, 2])
    with pytest.raises(DataError, match=r"val_data: label 0 outside 1..1000"):
        load_dataset("ImageNet16-120", tmp_path)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 3, 32, 32), np.uint8), [1, 2], "'data' rows hold 3072 values, expected 768"),
        (np.zeros((2, 3, 16, 16), np.float32), [1, 2], "'data' must be a uint8 array"),
        (np.zeros((2, 3, 16, 16), np.uint8), [1, 2, 3], "3 labels for 2 images"),
        (np.zeros((2, 3, 16, 16), np.uint8), [1, 1001], "label 1001 outside 1..1000"),
    ],
)
def test_malformed_file_is_named(tmp_path: Path, images, labels, message: str) -> None:
    make_imagenet16(tmp_path)
    write_file(tmp_path / "ImageNet16" / "train_data_batch_5", images, labels)
    with pytest.raises(DataError, match=f"train_data_batch_5: {message}"):
        load_dataset("ImageNet16-120", tmp_path)


def test_missing_and_truncated_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ImageNet16: folder not found"):
        load_dataset("ImageNet16-120", tmp_path)
    make_imagenet16(tmp_path)
    path = tmp_path / "ImageNet16" / "train_data_batch_10"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train_data_batch_10: not a readable pickle"):
        load_dataset("ImageNet16-120", tmp_path)
    path.unlink()
    with pytest.raises(DataError, match=r"train_data_batch_10: cannot read"):
        load_dataset("ImageNet16-120", tmp_path)
