"""Device latency tables read from HELP's torch zip files without torch.load."""

from __future__ import annotations

import os
import pickle
import pickletools
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pmfnas.errors import ArchitectureError, DataError, RegistryError
from pmfnas.tables.hardware import LatencyTables, read_latency_file


@pytest.fixture(scope="session")
def latency_dir(data_dir: Path) -> Path:
    folder = data_dir / "nb201" / "latency"
    if not any(folder.glob("*.pt")):
        pytest.skip(f"no latency tables in {folder}")
    return folder


@pytest.fixture(scope="session")
def tables(latency_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LatencyTables:
    return LatencyTables.load(latency_dir, cache_dir=tmp_path_factory.mktemp("latency-cache"))


def _numbers_in_pickle(data: bytes) -> list[float]:
    """An independent reading of a pickled list of numbers: its opcodes' arguments."""
    kinds = {"BINFLOAT", "BININT1", "BININT2", "BININT", "FLOAT", "INT", "LONG1"}
    return [float(arg) for op, arg, _ in pickletools.genops(data) if op.name in kinds]


def _write_pt(path: Path, folder: str, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{folder}/data.pkl", payload)
        zf.writestr(f"{folder}/version", "3\n")
    return path


def test_devices_and_values_match_the_files(tables, latency_dir) -> None:
    assert set(tables.devices) == {p.stem for p in latency_dir.glob("*.pt")}
    for device in ("1080ti_1", "pixel2", "raspi4", "fpga"):
        with zipfile.ZipFile(latency_dir / f"{device}.pt") as zf:
            expected = _numbers_in_pickle(zf.read("archive/data.pkl"))
        assert len(expected) == 15625
        np.testing.assert_allclose(tables.array(device), expected, rtol=1e-6)
        assert tables.latency(device, 6111) == pytest.approx(expected[6111], rel=1e-6)


def test_integer_tables_and_plausible_values(tables) -> None:
    pixel2 = tables.array("pixel2")
    assert np.array_equal(pixel2, np.round(pixel2))  # small files hold integer ms
    for device in tables.devices:
        assert np.all(tables.array(device) > 0), device
    # a batch of 256 takes longer than a batch of 1 on the same GPU
    assert np.median(tables.array("titan_rtx_256")) > np.median(tables.array("titan_rtx_1"))


def test_cache_round_trip(tables, latency_dir, tmp_path) -> None:
    cache = tmp_path / "cache"
    first = LatencyTables.load(latency_dir, cache_dir=cache)
    second = LatencyTables.load(latency_dir, cache_dir=cache)
    assert not first.from_cache and second.from_cache
    for device in tables.devices:
        np.testing.assert_array_equal(second.array(device), tables.array(device))
    with pytest.raises(ValueError):
        second.array("pixel2")[0] = 0.0


def test_changed_file_is_rebuilt(latency_dir, tmp_path) -> None:
    folder = tmp_path / "latency"
    folder.mkdir()
    for device in ("pixel2", "fpga"):
        shutil.copy(latency_dir / f"{device}.pt", folder)
    cache = tmp_path / "cache"
    LatencyTables.load(folder, cache_dir=cache)
    assert LatencyTables.load(folder, cache_dir=cache).from_cache
    os.utime(folder / "fpga.pt", ns=(0, 10**9))
    assert not LatencyTables.load(folder, cache_dir=cache).from_cache
    (folder / "fpga.pt").unlink()
    assert LatencyTables.load(folder, cache_dir=cache).devices == ("pixel2",)


def test_unknown_device_and_index(tables) -> None:
    with pytest.raises(RegistryError, match=r"unknown latency device 'tpu'.*1080ti_1.*titanxp_32"):
        tables.latency("tpu", 0)
    with pytest.raises(ArchitectureError):
        tables.latency("pixel2", 15625)


def test_any_inner_folder_name(tmp_path) -> None:
    """torch names the inner folder after the file (or ``archive``); only ``data.pkl`` matters."""
    values = [float(i % 7) + 0.5 for i in range(15625)]
    path = _write_pt(tmp_path / "mydevice.pt", "mydevice", pickle.dumps(values, protocol=2))
    np.testing.assert_array_equal(read_latency_file(path), np.array(values, dtype=np.float32))


def test_refuses_code_and_tensors(tmp_path) -> None:
    evil = b"cos\nsystem\n(S'true'\ntR."
    path = _write_pt(tmp_path / "evil.pt", "archive", evil)
    with pytest.raises(DataError, match=r"evil\.pt:archive/data\.pkl.*refused.*os\.system"):
        read_latency_file(path)
    torch = pytest.importorskip("torch")
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(15625), path)
    with pytest.raises(DataError, match=r"tensor\.pt.*refused"):
        read_latency_file(path)


def test_broken_files(latency_dir, tmp_path) -> None:
    data = (latency_dir / "pixel2.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.pt: not a readable torch zip"):
        read_latency_file(tmp_path / "cut.pt")
    short = _write_pt(tmp_path / "short.pt", "archive", pickle.dumps([1.0, 2.0]))
    with pytest.raises(DataError, match=r"short\.pt: expected a list of 15625"):
        read_latency_file(short)
    with pytest.raises(DataError, match="no such latency folder"):
        LatencyTables.load(tmp_path / "absent", cache_dir=tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no <device>\.pt"):
        LatencyTables.load(tmp_path / "empty", cache_dir=tmp_path / "cache")
