"""NB201 split files, the hold-out split and seeded stratified fractional subsets."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.data import (
    ImageDataset,
    cap_images,
    load_dataset,
    read_split_file,
    stratified_split,
    take_fraction,
)
from pmfnas.errors import ConfigError, DataError

# (file, keys, sizes, size of the part it divides); the last two files are not in ../shared/data.
SPLIT_FILES = [
    ("cifar-split.txt", ("train", "valid"), (25_000, 25_000), 50_000),
    ("ImageNet16-120-split.txt", ("train", "valid"), (75_850, 75_850), 151_700),
    ("cifar100-test-split.txt", ("xvalid", "xtest"), (5_000, 5_000), 10_000),
    ("imagenet-16-120-test-split.txt", ("xvalid", "xtest"), (3_000, 3_000), 6_000),
]


@pytest.mark.parametrize(("name", "keys", "sizes", "total"), SPLIT_FILES)
def test_official_split_files(data_dir: Path, name: str, keys, sizes, total: int) -> None:
    path = data_dir / "nb201" / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    split = read_split_file(path)
    assert tuple(split) == keys
    first, second = (split[k] for k in keys)
    assert (len(first), len(second)) == sizes
    assert not np.intersect1d(first, second).size
    assert np.array_equal(np.union1d(first, second), np.arange(total))


def make_cifar10(root: Path, per_batch: int = 10) -> None:
    """A tiny ``cifar-10-batches-py`` folder (50 training, 10 test images)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        entry = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))


def write_split(root: Path, name: str, **parts: list[int]) -> None:
    folder = root / "nb201"
    folder.mkdir(exist_ok=True)
    content = {k: ["int", [str(i) for i in v]] for k, v in parts.items()}
    (folder / name).write_text(json.dumps(content, indent=1))


@pytest.mark.parametrize("split", ["nb201", "train-valid"])
def test_cifar10_valid_halves(tmp_path: Path, split: str) -> None:
    make_cifar10(tmp_path)
    train, valid = list(range(0, 50, 2)), list(range(1, 50, 2))
    write_split(tmp_path, "cifar-split.txt", train=train, valid=valid)
    full = load_dataset("cifar10", tmp_path)
    data = load_dataset("cifar10", tmp_path, split=split)
    assert torch.equal(data.train_x, full.train_x[train])
    assert torch.equal(data.train_y, full.train_y[train])
    assert torch.equal(data.valid_x, full.train_x[valid])
    assert torch.equal(data.test_x, full.test_x) and torch.equal(data.test_y, full.test_y)


def test_cifar100_x_valid_x_test_halves(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", 20), ("test", 8)):
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": [5] * n}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    write_split(tmp_path, "cifar100-test-split.txt", xvalid=[0, 1, 4, 6], xtest=[2, 3, 5, 7])
    full = load_dataset("cifar100", tmp_path)
    data = load_dataset("cifar100", tmp_path, split="nb201")
    assert torch.equal(data.train_x, full.train_x)
    assert torch.equal(data.valid_x, full.test_x[[0, 1, 4, 6]])
    assert torch.equal(data.test_x, full.test_x[[2, 3, 5, 7]])
    with pytest.raises(ConfigError, match=r"'train-valid' is defined for cifar10, ImageNet16-120"):
        load_dataset("cifar100", tmp_path, split="train-valid")


def test_split_file_errors(tmp_path: Path) -> None:
    make_cifar10(tmp_path)
    with pytest.raises(DataError, match=r"nb201/cifar-split.txt: split file not found"):
        load_dataset("cifar10", tmp_path, split="nb201")
    cases = [
        ({"train": [0, 1], "valid": [1, 2]}, "'train' and 'valid' share indices"),
        ({"train": [0, 0], "valid": [1]}, "'train' lists an index twice"),
        ({"train": [0, 50], "valid": [1]}, "index 50 of 'train' is out of range for the 50 train"),
        ({"train": [0]}, "no 'valid' entry"),
    ]
    for parts, message in cases:
        write_split(tmp_path, "cifar-split.txt", **parts)
        with pytest.raises(DataError, match=f"cifar-split.txt: {message}"):
            load_dataset("cifar10", tmp_path, split="nb201")
    path = tmp_path / "nb201" / "cifar-split.txt"
    for text, message in [
        ('{"train": ["int", ["0", "1"', "invalid JSON"),  # truncated
        ('["0", "1"]', "expected a JSON object"),
        ('{"train": ["str", ["a"]]}', "entry 'train' is not"),
        ('{"train": ["int", ["a"]]}', "entry 'train' holds a value that is not an integer"),
    ]:
        path.write_text(text)
        with pytest.raises(DataError, match=f"cifar-split.txt: .*{message}"):
            read_split_file(path)


def test_shared_subset_does_not_fit_the_full_split(data_dir: Path) -> None:
    if not (data_dir / "cifar-10-batches-py").is_dir():
        pytest.skip("CIFAR-10 subset not found")
    if not (data_dir / "nb201" / "cifar-split.txt").is_file():
        pytest.skip("cifar-split.txt not found")
    with pytest.raises(DataError, match=r"cifar-split.txt: index .* out of range for the 4,660"):
        load_dataset("cifar10", data_dir, split="nb201")


def test_unknown_splits(tmp_path: Path) -> None:
    for split, message in [
        ("valid", "unknown split 'valid'"),
        ("holdout:1.5", "share must be in"),
        ("holdout:x", "expected 'holdout' or 'holdout:S'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_dataset("digits", split=split)
    with pytest.raises(ConfigError, match=r"'nb201' is defined for cifar10, cifar100, ImageNet16"):
        load_dataset("digits", split="nb201")


def toy(n_per_class: tuple[int, ...] = (40, 25, 10, 1)) -> ImageDataset:
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(n_per_class)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    return ImageDataset(
        name="toy",
        train_x=images.contiguous(),
        train_y=labels,
        test_x=images[:3].contiguous(),
        test_y=labels[:3],
        num_classes=len(n_per_class),
        mean=(0.5,),
        std=(0.25,),
    )


def test_holdout_is_stratified_disjoint_and_fixed(tmp_path: Path) -> None:
    a = load_dataset("digits", split="holdout", seed=1)
    b = load_dataset("digits", split="holdout", seed=2)  # the seed only picks fractions
    assert torch.equal(a.valid_x, b.valid_x) and torch.equal(a.train_y, b.train_y)
    full = load_dataset("digits")
    assert len(a.train_y) + len(a.valid_y) == len(full.train_y)
    share = torch.bincount(a.valid_y) / torch.bincount(full.train_y)
    assert torch.allclose(share, torch.full((10,), 0.2), atol=0.02)
    assert len(load_dataset("digits", split="holdout:0.5").valid_y) == pytest.approx(675, abs=5)


def test_fraction_is_stratified_seeded_and_nested() -> None:
    data = toy()
    half = take_fraction(data, 0.5, seed=3)
    assert torch.bincount(half.train_y).tolist() == [20, 13, 5, 1]  # round half up, >= 1
    assert torch.equal(half.train_x, take_fraction(data, 0.5, seed=3).train_x)
    assert not torch.equal(half.train_x, take_fraction(data, 0.5, seed=4).train_x)
    quarter = take_fraction(data, 0.25, seed=3)
    assert set(quarter.train_x[:, 0, 0, 0].tolist()) <= set(half.train_x[:, 0, 0, 0].tolist())
    assert torch.equal(half.test_x, data.test_x)
    assert take_fraction(data, 1.0, seed=0) is data
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ConfigError, match=r"fraction must be in"):
            take_fraction(data, bad, seed=0)


def test_a_cap_keeps_a_small_part_and_takes_a_seeded_share_of_a_large_one() -> None:
    data = toy()
    size = len(data.train_y)
    assert cap_images(data, "train", size, seed=0) is data
    assert cap_images(data, "train", 0, seed=0) is data  # 0: no cap
    capped = cap_images(data, "train", size // 2, seed=3)
    assert torch.equal(capped.train_x, take_fraction(data, (size // 2) / size, seed=3).train_x)
    assert torch.equal(capped.test_x, data.test_x)


def test_stratified_split_partitions_in_order() -> None:
    labels = toy().train_y
    kept, rest = stratified_split(labels, 0.3, seed=0)
    assert torch.equal(torch.cat([kept, rest]).sort().values, torch.arange(len(labels)))
    assert torch.equal(kept, kept.sort().values) and torch.equal(rest, rest.sort().values)


def test_fraction_through_load_dataset() -> None:
    data = load_dataset("digits", split="holdout", fraction=0.1, seed=5)
    assert len(data.train_y) == pytest.approx(108, abs=5)
    assert len(data.valid_y) == 269 and len(data.test_y) == 447
    with pytest.raises(ConfigError, match=r"fraction must be in"):
        load_dataset("digits", fraction=2)
