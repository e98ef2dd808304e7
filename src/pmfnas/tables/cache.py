"""Compact ``.npz`` caches of benchmark tables, keyed by the source files they were built from.

Reading the published files (CSV, JSON in a zip, thousands of bz2 pickles) takes from seconds to
minutes; the arrays they reduce to load in milliseconds. A cache file's name carries a hash of the
source folder and of its key (format version plus every source file's name, size and mtime), so an
edited source or a new format gets a new cache and the stale one is removed. Caches hold plain
arrays and are read with ``allow_pickle=False``; one that cannot be read or does not match its key
is rebuilt, with a warning, never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

Arrays = dict[str, np.ndarray]

_KEY = "__cache_key__"


def default_cache_dir() -> Path:
    """``$PMFNAS_CACHE``, else ``$XDG_CACHE_HOME/pmfnas``, else ``~/.cache/pmfnas``."""
    if env := os.environ.get("PMFNAS_CACHE"):
        return Path(env)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "pmfnas"
    return Path.home() / ".cache" / "pmfnas"


def fingerprint(files: Iterable[Path], version: str) -> str:
    """A key that changes when any file is added, removed, resized or touched, or ``version`` moves."""
    h = hashlib.sha256(version.encode())
    for name in sorted(map(os.fspath, files)):
        st = os.stat(name)
        h.update(f"\0{name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _cache_path(cache_dir: Path, prefix: str, source: Path, key: str) -> Path:
    where = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
    return cache_dir / f"{prefix}-{where}-{key[:20]}.npz"


def _read(path: Path, key: str) -> Arrays:
    with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:  # we close f, not numpy
        arrays = {name: npz[name] for name in npz.files}
    if str(arrays.pop(_KEY, "")) != key:
        raise ValueError("cache key does not match its sources")
    return arrays


def _write(path: Path, key: str, arrays: Arrays) -> None:
    """Write atomically (temporary file + rename), so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **{_KEY: np.array(key)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for stale in path.parent.glob(f"{path.name.rsplit('-', 1)[0]}-*.npz"):
        if stale != path:
            stale.unlink(missing_ok=True)


def load_or_build(
    prefix: str,
    source: Path,
    key: str,
    build: Callable[[], Arrays],
    check: Callable[[Arrays], None],
    *,
    cache_dir: Path | None = None,
    rebuild: bool = False,
) -> tuple[Arrays, bool]:
    """Return ``(arrays, from_cache)``: the cached arrays for ``key`` or freshly built ones.

    ``check`` raises ``ValueError`` when arrays do not have the expected content; a cache that
    fails it (or cannot be read) is rebuilt with a warning. Returned arrays are read-only. A cache
    that cannot be written (read-only disk) only costs a warning.
    """
    path = _cache_path(cache_dir or default_cache_dir(), prefix, source, key)
    arrays: Arrays | None = None
    if path.exists() and not rebuild:
        try:
            arrays = _read(path, key)
            check(arrays)
        except Exception as exc:  # any unreadable or mismatching cache is rebuilt, never used
            warnings.warn(f"rebuilding the unreadable cache {path} ({exc})", stacklevel=3)
            arrays = None
    from_cache = arrays is not None
    if arrays is None:
        arrays = build()
        check(arrays)
        try:
            _write(path, key, arrays)
        except OSError as exc:
            warnings.warn(f"could not write the cache {path} ({exc})", stacklevel=3)
    for array in arrays.values():
        array.flags.writeable = False
    return arrays, from_cache
