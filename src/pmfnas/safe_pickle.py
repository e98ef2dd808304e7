"""A restricted unpickler for the benchmark archives and dataset batches we must read.

A pickle is a program: ``pickle.load`` will import and call whatever the file names, so a crafted
benchmark file could run code. The official NATS-Bench records, the CIFAR batches and the HELP
latency lists only need plain containers, numbers, strings and numpy arrays, so those are the only
globals this unpickler resolves; any other global (or a persistent id) is refused with a
:class:`DataError` that names the file and the refused global.
"""

from __future__ import annotations

import bz2
import collections
import importlib
import io
import pickle
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np

from pmfnas.errors import DataError

_BZ2_MAGIC = b"BZh"


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``; only latin-1 is needed."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_core() -> tuple[Any, Any]:
    """numpy's array internals, under whichever name this numpy version uses (2.x: ``_core``)."""
    try:
        return (
            importlib.import_module("numpy._core.multiarray"),
            importlib.import_module("numpy._core.numeric"),
        )
    except ImportError:  # numpy 1.x
        return (
            importlib.import_module("numpy.core.multiarray"),
            importlib.import_module("numpy.core.numeric"),
        )


def _allowed_globals() -> dict[tuple[str, str], Any]:
    multiarray, numeric = _numpy_core()
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "bytes"): bytes,
        ("builtins", "complex"): complex,
        ("_codecs", "encode"): _latin1_encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    # Pickles written by numpy 1.x name ``numpy.core``, by numpy 2.x ``numpy._core``; accept both.
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


_ALLOWED = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], name: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # Python-2 pickles
            module = "builtins"
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._name}: refused to unpickle the global {module}.{name} "
                "(only plain containers, numbers, strings and numpy arrays are allowed)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(
            f"{self._name}: refused a pickle persistent id {pid!r} (e.g. a torch tensor)"
        )


def loads(data: bytes, *, encoding: str = "ASCII", name: str = "<bytes>") -> Any:
    """Unpickle ``data`` (bz2-compressed or not) admitting only plain data; ``name`` labels errors.

    ``encoding`` is passed to :class:`pickle.Unpickler`; use ``"latin1"`` or ``"bytes"`` for
    Python-2 pickles such as the CIFAR batches.
    """
    if data.startswith(_BZ2_MAGIC):
        try:
            data = bz2.decompress(data)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{name}: corrupt bz2 data ({exc})") from None
    try:
        return _RestrictedUnpickler(io.BytesIO(data), name, encoding).load()
    except DataError:
        raise
    except Exception as exc:  # a truncated or garbled pickle fails in many different ways
        raise DataError(f"{name}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def load_pickle(source: str | PathLike[str] | IO[bytes], *, encoding: str = "ASCII") -> Any:
    """Read a pickle (``.pbz2``/bz2 detected by its header) from a path or binary file object."""
    if isinstance(source, str | PathLike):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return loads(data, encoding=encoding, name=str(path))
    return loads(source.read(), encoding=encoding, name=getattr(source, "name", "<file object>"))
