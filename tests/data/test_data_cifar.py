"""The CIFAR-10/100 readers: the shared real subset, synthetic official-format files, bad files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.data.cifar import CIFAR10_MEAN, CIFAR10_STD, read_cifar_batch
from pmfnas.errors import DataError
from pmfnas.safe_pickle import load_pickle

TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def write_batch(
    path: Path,
    images: np.ndarray,
    labels: list[int],
    *,
    label_key: str = "labels",
    byte_keys: bool = True,
    extra: dict | None = None,
) -> None:
    """A batch as the official files hold it: a protocol-2 pickle with (by default) byte keys."""
    entry = {
        "batch_label": b"synthetic batch",
        label_key: labels,
        "data": images.reshape(len(images), -1),
        "filenames": [b"img_%d.png" % i for i in range(len(images))],
        **(extra or {}),
    }
    if byte_keys:
        entry = {k.encode(): v for k, v in entry.items()}
    path.write_bytes(pickle.dumps(entry, protocol=2))


def make_cifar10(root: Path, per_batch: int = 7, seed: int = 0, **kwargs) -> dict[str, tuple]:
    """A complete ``cifar-10-batches-py`` folder of random images; returns what each file holds."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [*TRAIN_FILES, "test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        write_batch(folder / name, images, labels, **kwargs)
        written[name] = (images, labels)
    meta = {b"label_names": [b"c%d" % i for i in range(10)], b"num_cases_per_batch": per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_shared_subset_counts_shapes_and_labels(data_dir: Path) -> None:
    folder = data_dir / "cifar-10-batches-py"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    data = load_dataset("cifar10", data_dir)
    assert (len(data.train_y), len(data.test_y)) == (5 * 932, 846)
    assert data.train_x.shape[1:] == data.test_x.shape[1:] == (3, 32, 32)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    for y in (data.train_y, data.test_y):
        assert int(y.min()) >= 0 and int(y.max()) <= 9
    assert set(data.train_y.tolist()) == set(range(10))
    assert data.num_classes == 10 and data.classes[0] == "airplane" and data.classes[9] == "truck"
    assert data.mean == CIFAR10_MEAN and data.std == CIFAR10_STD
    assert not data.has("valid")
    for name in TRAIN_FILES:
        images, labels = read_cifar_batch(folder / name, "labels", 10)
        assert images.shape == (932, 3, 32, 32) and labels.shape == (932,)
    # the pixels are the file's rows reshaped channel-first, in file order
    raw = load_pickle(folder / "data_batch_1", encoding="bytes")
    assert np.array_equal(data.train_x[0].numpy().ravel(), raw[b"data"][0])
    assert data.train_y[:932].tolist() == raw[b"labels"]


def test_shared_subset_normalises_to_about_zero_mean_unit_std(data_dir: Path) -> None:
    if not (data_dir / "cifar-10-batches-py").is_dir():
        pytest.skip("CIFAR-10 subset not found")
    data = load_dataset("cifar10", data_dir)
    x = data.normalize(data.train_x)
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=0.05)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=0.05)


@pytest.mark.parametrize("byte_keys", [True, False])
def test_synthetic_official_format(tmp_path: Path, byte_keys: bool) -> None:
    written = make_cifar10(tmp_path, byte_keys=byte_keys)
    data = load_dataset("CIFAR10", tmp_path)  # names are case-insensitive
    train_images = np.concatenate([written[n][0] for n in TRAIN_FILES])
    assert np.array_equal(data.train_x.numpy(), train_images)
    assert data.train_y.tolist() == [label for n in TRAIN_FILES for label in written[n][1]]
    assert np.array_equal(data.test_x.numpy(), written["test_batch"][0])
    assert data.test_y.tolist() == written["test_batch"][1]
    assert data.classes == tuple(f"c{i}" for i in range(10))
    # row layout: red plane, green plane, blue plane, each row-major
    row = train_images[0].reshape(-1)
    assert data.train_x[0, 1, 2, 3] == row[1 * 1024 + 2 * 32 + 3]


def test_meta_file_is_optional(tmp_path: Path) -> None:
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    assert load_dataset("cifar10", tmp_path).classes == tuple(str(i) for i in range(10))


def test_missing_folder_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cifar-10-batches-py: folder not found"):
        load_dataset("cifar10", tmp_path)
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataError, match=r"data_batch_4: cannot read"):
        load_dataset("cifar10", tmp_path)


def test_truncated_file_is_named(tmp_path: Path) -> None:
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"data_batch_2: not a readable pickle"):
        load_dataset("cifar10", tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: {"labels": [*e["labels"][:-1], 10]}, "label 10 outside 0..9"),
        (lambda e: {"labels": [*e["labels"][:-1], -1]}, "label -1 outside 0..9"),
        (lambda e: {"labels": e["labels"][:-1]}, "6 labels for 7 images"),
        (lambda e: {"labels": [0.5] * 7}, "labels must be a flat list of integers"),
        (lambda e: {"data": e["data"][:, :-1]}, "'data' rows hold 3071 values, expected 3072"),
        (lambda e: {"data": e["data"].astype(np.int64)}, "'data' must be a uint8 array"),
    ],
)
def test_mislabelled_or_malformed_batch(tmp_path: Path, change, message: str) -> None:
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    entry = {k.decode(): v for k, v in load_pickle(path, encoding="bytes").items()}
    path.write_bytes(pickle.dumps(entry | change(entry), protocol=2))
    with pytest.raises(DataError, match=f"test_batch: {message}"):
        load_dataset("cifar10", tmp_path)


def test_missing_key_and_non_dict(tmp_path: Path) -> None:
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: no 'labels' entry"):
        load_dataset("cifar10", tmp_path)
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: expected a pickled dict"):
        load_dataset("cifar10", tmp_path)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    make_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(pickle.dumps({"data": _Exploit(marker)}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3: refused to unpickle"):
        load_dataset("cifar10", tmp_path)
    assert not marker.exists()


def test_cifar100_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    parts = {}
    for name, n in (("train", 30), ("test", 12)):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        fine = rng.integers(0, 100, n).tolist()
        coarse = [f // 5 for f in fine]
        write_batch(
            folder / name, images, fine, label_key="fine_labels", extra={"coarse_labels": coarse}
        )
        parts[name] = (images, fine)
    meta = {b"fine_label_names": [b"f%d" % i for i in range(100)], b"coarse_label_names": []}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    data = load_dataset("cifar100", tmp_path)
    assert data.num_classes == 100 and data.classes[42] == "f42"
    assert np.array_equal(data.train_x.numpy(), parts["train"][0])
    assert data.train_y.tolist() == parts["train"][1]
    assert data.test_y.tolist() == parts["test"][1]
    assert data.mean == pytest.approx((0.5071, 0.4867, 0.4408), abs=1e-3)
    write_batch(folder / "test", parts["test"][0], [100] * 12, label_key="fine_labels")
    with pytest.raises(DataError, match=r"test: label 100 outside 0..99"):
        load_dataset("cifar100", tmp_path)
