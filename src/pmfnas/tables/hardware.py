"""Inference latency of every NAS-Bench-201 cell on real devices (HELP's measurements).

Each ``<device>.pt`` file in ``$PMFNAS_DATA/nb201/latency`` is a torch zip archive whose
``*/data.pkl`` member is a plain list of 15,625 latencies in ms, in NATS index order. We read that
member with :mod:`zipfile` and the restricted unpickler rather than ``torch.load`` (a pickle can run
code, and this keeps torch out of the tabular path), and cache all devices in one ``.npz``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pmfnas.errors import ArchitectureError, DataError, RegistryError
from pmfnas.safe_pickle import loads
from pmfnas.spaces.nb201 import NUM_ARCHS
from pmfnas.tables.cache import Arrays, fingerprint, load_or_build
from pmfnas.tables.nb201 import default_source

FORMAT_VERSION = "latency-1"


def read_latency_file(path: Path) -> np.ndarray:
    """The 15,625 latencies (ms) stored in one HELP ``.pt`` file."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m == "data.pkl" or m.endswith("/data.pkl")]
            if len(members) != 1:
                raise DataError(f"{path}: expected one data.pkl member, found {len(members)}")
            data = zf.read(members[0])
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable torch zip file ({exc})") from None
    values = loads(data, name=f"{path}:{members[0]}")
    if not isinstance(values, list) or len(values) != NUM_ARCHS:
        raise DataError(f"{path}: expected a list of {NUM_ARCHS} latencies")
    try:
        return np.array(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: latencies are not numbers ({exc})") from None


def _check(arrays: Arrays) -> None:
    if not arrays or any(a.shape != (NUM_ARCHS,) for a in arrays.values()):
        raise ValueError("latency arrays missing or of the wrong shape")


class LatencyTables:
    """Per-device latency (ms) of each NB201 cell; build with :meth:`load`."""

    def __init__(self, arrays: Arrays, folder: Path, from_cache: bool) -> None:
        self.folder = folder
        self.from_cache = from_cache
        self._arrays = arrays

    @classmethod
    def load(
        cls,
        folder: Path | str | None = None,
        *,
        cache_dir: Path | str | None = None,
        rebuild: bool = False,
    ) -> LatencyTables:
        """Load every ``*.pt`` table of ``folder`` (default ``$PMFNAS_DATA/nb201/latency``)."""
        folder = Path(folder) if folder is not None else default_source() / "latency"
        if not folder.is_dir():
            raise DataError(f"{folder}: no such latency folder")
        files = sorted(folder.glob("*.pt"))
        if not files:
            raise DataError(f"{folder}: no <device>.pt latency files")
        arrays, from_cache = load_or_build(
            "nb201-latency",
            folder,
            fingerprint(files, FORMAT_VERSION),
            lambda: {p.stem: read_latency_file(p) for p in files},
            _check,
            cache_dir=Path(cache_dir) if cache_dir is not None else None,
            rebuild=rebuild,
        )
        return cls(arrays, folder, from_cache)

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(sorted(self._arrays))

    def array(self, device: str) -> np.ndarray:
        """Latency (ms) of all 15,625 cells on ``device`` (read-only, NATS index order)."""
        try:
            return self._arrays[device]
        except KeyError:
            known = ", ".join(self.devices)
            raise RegistryError(f"unknown latency device {device!r} (known: {known})") from None

    def latency(self, device: str, index: int) -> float:
        row = self.array(device)
        if not 0 <= index < NUM_ARCHS:
            raise ArchitectureError(f"NB201 index {index} out of range 0..{NUM_ARCHS - 1}")
        return float(row[index])
