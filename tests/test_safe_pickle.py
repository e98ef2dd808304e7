"""The restricted unpickler admits plain data and numpy arrays and refuses everything else."""

from __future__ import annotations

import bz2
import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from pmfnas.errors import DataError
from pmfnas.safe_pickle import load_pickle, loads

PLAIN = {
    "list": [1, 2.5, -3, None, True],
    "tuple": (1, "a", b"b"),
    "set": {1, 2},
    "frozenset": frozenset({"x"}),
    "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
    "nested": {(1, 2): [{"k": complex(1, 2)}]},
    "bytes": b"\x00\xff",
    "empty bytes": b"",
    "bytearray": bytearray(b"ab"),
}


class _Exploit:
    """Unpickling this would run a shell command (the classic pickle attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_round_trips(protocol: int) -> None:
    assert loads(pickle.dumps(PLAIN, protocol=protocol)) == PLAIN


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_arrays_scalars_and_dtypes(protocol: int) -> None:
    data = {
        "array": np.arange(12, dtype=np.float32).reshape(3, 4),
        "scalar": np.float64(0.129306),
        "dtype": np.dtype("int16"),
        "fortran": np.asfortranarray(np.eye(3)),
    }
    out = loads(pickle.dumps(data, protocol=protocol))
    np.testing.assert_array_equal(out["array"], data["array"])
    assert out["array"].dtype == np.float32
    assert out["scalar"] == data["scalar"] and isinstance(out["scalar"], np.float64)
    assert out["dtype"] == data["dtype"]
    np.testing.assert_array_equal(out["fortran"], data["fortran"])


@pytest.mark.parametrize("package", [b"numpy.core", b"numpy._core"])
def test_both_numpy_module_names(package: bytes) -> None:
    """Pickles from numpy 1.x name ``numpy.core``, from numpy 2.x ``numpy._core``."""
    text = pickle.dumps(np.arange(5), protocol=0)
    for name in (b"numpy.core", b"numpy._core"):
        text = text.replace(name + b".multiarray", b"@@")
    text = text.replace(b"@@", package + b".multiarray")
    np.testing.assert_array_equal(loads(text), np.arange(5))


def test_refuses_os_system_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"ok": [1, 2], "evil": _Exploit(marker)}))
    with pytest.raises(DataError, match=r"evil\.pickle.*refused.*system"):
        load_pickle(path)
    assert not marker.exists()


def test_refuses_inside_bz2(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "000001.pickle.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps(_Exploit(marker))))
    with pytest.raises(DataError, match=r"000001\.pickle\.pbz2.*refused"):
        load_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        (b"cbuiltins\neval\n(S'1+1'\ntR.", "builtins.eval"),
        (b"c__builtin__\neval\n(S'1+1'\ntR.", "builtins.eval"),  # Python-2 spelling
        (b"csubprocess\nPopen\n(S'true'\ntR.", "subprocess.Popen"),
        (b"cbuiltins\ngetattr\n.", "builtins.getattr"),
        (b"ccopyreg\n_reconstructor\n.", "copyreg._reconstructor"),
        (b"cnumpy\nload\n.", "numpy.load"),
    ],
)
def test_refuses_other_globals(data: bytes, refused: str) -> None:
    with pytest.raises(DataError, match=refused.replace(".", r"\.")):
        loads(data, name="crafted")


def test_refuses_codecs_other_than_latin1() -> None:
    with pytest.raises(DataError):
        loads(b"c_codecs\nencode\n(S'x'\nS'rot13'\ntR.")


def test_refuses_persistent_ids() -> None:
    """torch tensors are stored through persistent ids; a plain-data file has none."""
    with pytest.raises(DataError, match="persistent id"):
        loads(b"P0\n.")


def test_truncated_and_corrupt_files(tmp_path: Path) -> None:
    path = tmp_path / "cut.pickle"
    path.write_bytes(pickle.dumps(PLAIN)[:40])
    with pytest.raises(DataError, match=r"cut\.pickle"):
        load_pickle(path)
    path = tmp_path / "bad.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps(PLAIN))[:50])
    with pytest.raises(DataError, match=r"bad\.pbz2.*bz2"):
        load_pickle(path)
    with pytest.raises(DataError, match="missing"):
        load_pickle(tmp_path / "missing.pickle")


def test_file_object_and_bz2_path(tmp_path: Path) -> None:
    path = tmp_path / "plain.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps(PLAIN)))
    assert load_pickle(path) == PLAIN
    with path.open("rb") as f:
        assert load_pickle(f) == PLAIN


def test_python2_cifar_batch(data_dir: Path) -> None:
    """The CIFAR batches are Python-2 pickles of numpy arrays; ``encoding`` reads them."""
    path = data_dir / "cifar-10-batches-py" / "test_batch"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    batch = load_pickle(path, encoding="bytes")
    images, labels = batch[b"data"], batch[b"labels"]
    assert images.dtype == np.uint8 and images.shape == (len(labels), 3072)
    assert set(labels) <= set(range(10))
    meta = load_pickle(path.with_name("batches.meta"), encoding="latin1")
    assert meta["label_names"][:2] == ["airplane", "automobile"]
