"""Fashion-MNIST (IDX), scikit-learn digits, image folders, and name/path dispatch."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmfnas.data import load_dataset, read_image_folder
from pmfnas.data.base import channel_stats
from pmfnas.data.idx import FASHION_MNIST_MEAN, FASHION_MNIST_STD, read_idx
from pmfnas.errors import ConfigError, DataError, RegistryError

FMNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@pytest.fixture(scope="module")
def fmnist_dir(data_dir: Path) -> Path:
    folder = data_dir / "fashion-mnist"
    if not all((folder / name).is_file() for name in FMNIST_FILES):
        pytest.skip(f"Fashion-MNIST files not found in {folder}")
    return folder


def test_fashion_mnist(fmnist_dir: Path) -> None:
    data = load_dataset("fashion-mnist", fmnist_dir.parent)
    assert (len(data.train_y), len(data.test_y)) == (60_000, 10_000)
    assert data.train_x.shape[1:] == (1, 28, 28) and data.train_x.dtype == torch.uint8
    assert torch.bincount(data.train_y).tolist() == [6000] * 10
    assert torch.bincount(data.test_y).tolist() == [1000] * 10
    assert data.classes[9] == "Ankle boot" and data.crop_padding == 3
    mean, std = channel_stats(data.train_x)  # the published constants are these, rounded
    assert mean == pytest.approx(FASHION_MNIST_MEAN, abs=1e-4)
    assert std == pytest.approx(FASHION_MNIST_STD, abs=1e-4)


def _fmnist_copy(fmnist_dir: Path, target: Path) -> Path:
    """Links to the shared files (nothing is written there), to be replaced one by one."""
    target.mkdir()
    for name in FMNIST_FILES:
        os.symlink(fmnist_dir / name, target / name)
    return target


def test_truncated_fashion_mnist_files(fmnist_dir: Path, tmp_path: Path) -> None:
    folder = _fmnist_copy(fmnist_dir, tmp_path / "fashion-mnist")
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    labels.unlink()
    labels.write_bytes(gzip.compress(raw[:-10]))  # a valid gzip of a short payload
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: 9998 bytes, the header"):
        load_dataset("fashion-mnist", tmp_path)
    labels.write_bytes(gzip.compress(raw)[:2000])  # a cut gzip stream
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        load_dataset("fashion-mnist", tmp_path)
    labels.write_bytes(gzip.compress(raw[:8] + bytes([10]) * 10_000))  # a label out of 0..9
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 10 outside 0..9"):
        load_dataset("fashion-mnist", tmp_path)
    labels.unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: cannot read"):
        load_dataset("fashion-mnist", tmp_path)


def test_idx_reader(tmp_path: Path) -> None:
    path = tmp_path / "numbers-idx2"  # uncompressed, big-endian int16
    values = np.arange(-6, 6, dtype=">i2").reshape(3, 4)
    path.write_bytes(b"\0\0\x0b\x02" + np.array([3, 4], ">u4").tobytes() + values.tobytes())
    assert np.array_equal(read_idx(path), values)
    path.write_bytes(b"\x08\x03\0\0" + bytes(8))
    with pytest.raises(DataError, match=r"not an IDX file"):
        read_idx(path)
    path.write_bytes(b"\0\0\x08\x03" + bytes(4))
    with pytest.raises(DataError, match=r"truncated IDX header"):
        read_idx(path)


def test_digits() -> None:
    data = load_dataset("digits")
    assert len(data.train_y) + len(data.test_y) == 1797
    assert (len(data.train_y), len(data.test_y)) == (1350, 447)
    assert data.num_classes == 10 and data.train_x.shape[1:] == (1, 8, 8)
    assert data.train_x.dtype == torch.uint8 and int(data.train_x.max()) == 255
    assert set(data.test_y.tolist()) == set(range(10))
    assert not data.flip_invariant
    assert (data.mean, data.std) == channel_stats(data.train_x)
    again = load_dataset("digits", seed=9)  # the test split does not move with the seed
    assert torch.equal(again.test_x, data.test_x) and torch.equal(again.test_y, data.test_y)


def _save(path: Path, array: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, array)
    else:
        Image.fromarray(array).save(path)


def test_image_folder(tmp_path: Path) -> None:
    colours = {"cat": (255, 0, 0), "dog": (0, 0, 255)}
    for name, colour in colours.items():
        (tmp_path / name).mkdir()
        for i in range(5):
            suffix = [".png", ".ppm", ".npy", ".jpg", ".bmp"][i]
            shape = (12 + i, 10) if i % 2 else (10, 20)  # various sizes and aspect ratios
            _save(tmp_path / name / f"{i}{suffix}", np.full((*shape, 3), colour, np.uint8))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = load_dataset(str(tmp_path), image_size=8)
    assert data.classes == ("cat", "dog") and data.num_classes == 2
    assert data.train_x.shape[1:] == (3, 8, 8) and data.train_x.dtype == torch.uint8
    assert torch.bincount(data.train_y).tolist() == [4, 4]
    assert torch.bincount(data.test_y).tolist() == [1, 1]
    for x, y in ((data.train_x, data.train_y), (data.test_x, data.test_y)):
        for image, label in zip(x, y, strict=True):
            colour = torch.tensor(colours[data.classes[label]])
            assert (image.int() - colour.view(3, 1, 1)).abs().max() <= 1  # jpg is near, not exact
    assert data.mean == pytest.approx((0.5, 0, 0.5), abs=0.01)
    assert data.name == str(tmp_path.resolve())


def test_grey_folder_with_train_and_test_parts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for part, count in (("train", 3), ("val", 2)):
        for name in ("a", "b", "c"):
            (tmp_path / part / name).mkdir(parents=True)
            for i in range(count):
                _save(tmp_path / part / name / f"{i}.png", rng.integers(0, 256, (6, 6), np.uint8))
    data = read_image_folder(tmp_path, image_size=6)
    assert data.channels == 1 and data.image_size == (6, 6)
    assert (len(data.train_y), len(data.test_y)) == (9, 6)
    assert data.test_y.tolist() == [0, 0, 1, 1, 2, 2]
    (tmp_path / "val" / "d").mkdir()
    with pytest.raises(DataError, match=r"class 'd' is not among"):
        read_image_folder(tmp_path)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such image folder"):
        load_dataset(str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"no class folders"):
        read_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match=r"/a: no image files"):
        read_image_folder(tmp_path)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken.png: not a readable image"):
        read_image_folder(tmp_path)
    (tmp_path / "a" / "broken.png").unlink()
    np.save(tmp_path / "a" / "x.npy", np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DataError, match=r"x.npy: expected a uint8 \(H, W\)"):
        read_image_folder(tmp_path)
    with pytest.raises(ConfigError, match=r"image_size must be positive"):
        read_image_folder(tmp_path, image_size=0)


def test_name_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegistryError, match=r"unknown dataset 'cifar11'.*digits"):
        load_dataset("cifar11")
    with pytest.raises(ConfigError, match=r"image_size applies to image folders"):
        load_dataset("digits", image_size=16)
    monkeypatch.delenv("PMFNAS_DATA", raising=False)
    with pytest.raises(DataError, match=r"pass data_dir or set PMFNAS_DATA"):
        load_dataset("cifar10")
    monkeypatch.setenv("PMFNAS_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"fashion-mnist: folder not found"):
        load_dataset("Fashion-MNIST")


def test_folders_that_cannot_make_a_classification_are_refused(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / "one" / "a").mkdir(parents=True, exist_ok=True)
        _save(tmp_path / "one" / "a" / f"{i}.npy", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"has 1 class; classification needs at least 2"):
        read_image_folder(tmp_path / "one")
    for name in ("a", "b"):  # two images a class: none left to test on
        (tmp_path / "two" / name).mkdir(parents=True)
        for i in range(2):
            _save(tmp_path / "two" / name / f"{i}.npy", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"test part: no images"):
        read_image_folder(tmp_path / "two")
