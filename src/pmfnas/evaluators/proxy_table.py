"""A resumable table of zero-cost proxy scores: one SQLite row per (architecture, proxy).

Computing proxies for thousands of architectures takes hours on a CPU, so every finished
architecture is committed at once: a run that is killed keeps everything it finished, and the
next run computes only what is missing. The table remembers the settings it was made with
(dataset, batch size, network width, seed ...); scores made with other settings are refused, not
mixed. Workers compute, the parent process alone writes.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from pmfnas.errors import StorageError

TABLE_CHANNELS, TABLE_CELLS = 8, 1
"""Default network of proxy tables: C=8, N=1 instead of NB201's 16 / 5, several times cheaper.

It keeps how well most proxies rank cells, but not the gradient-magnitude proxies grad_norm, snip
and fisher: compute those at full size (``channels=16, cells_per_stage=5``; CLI ``--width 16
--cells 5``). The measurements are in docs/results.md (``benchmarks/proxy_quality.py``).
"""

Scores = dict[str, tuple[float, float]]
"""Proxy name → (score, seconds)."""

ScoreFn = Callable[[int], Scores]
"""Computes the proxies of one architecture index."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    arch INTEGER NOT NULL,
    proxy TEXT NOT NULL,
    score REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (arch, proxy)
);
"""


class ProxyTable:
    """Proxy scores of one setting, stored in SQLite (WAL).

    Args:
        path: the table file (created if missing).
        settings: what the scores depend on; must equal the settings the file was made with.
    """

    def __init__(self, path: str | Path, settings: dict[str, Any]) -> None:
        self.path = Path(path)
        self.settings = settings
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._check_settings()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not a usable proxy table: {exc}") from None

    @classmethod
    def open(cls, path: str | Path) -> ProxyTable:
        """An existing table, with the settings it was made with (for export)."""
        path = Path(path)
        if not path.is_file():
            raise StorageError(f"{path}: no such proxy table")
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                row = db.execute("SELECT value FROM settings WHERE key = 'settings'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path} is not a usable proxy table: {exc}") from None
        if row is None:
            raise StorageError(f"{path} is not a usable proxy table: it records no settings")
        return cls(path, json.loads(row[0]))

    def proxies(self) -> list[str]:
        """The proxies with at least one score in the table, sorted."""
        rows = self._db.execute("SELECT DISTINCT proxy FROM scores ORDER BY proxy")
        return [name for (name,) in rows]

    def size(self) -> int:
        """One more than the largest key with a score (0 for an empty table)."""
        (largest,) = self._db.execute("SELECT MAX(arch) FROM scores").fetchone()
        return 0 if largest is None else largest + 1

    def _check_settings(self) -> None:
        """Record the settings if the file has none yet, then refuse other ones. Insert-then-read,
        not read-then-insert: two processes creating the same file at once both succeed."""
        text = json.dumps(self.settings, sort_keys=True)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO settings VALUES ('settings', ?)", (text,))
        (stored,) = self._db.execute("SELECT value FROM settings WHERE key = 'settings'").fetchone()
        if json.loads(stored) != json.loads(text):
            raise StorageError(
                f"{self.path} holds proxy scores made with other settings ({stored}); "
                "use another file for these settings"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def missing(self, indices: Iterable[int], proxies: Sequence[str]) -> list[int]:
        """The indices that lack at least one of ``proxies``, in the given order."""
        have: dict[int, set[str]] = {}
        for arch, proxy in self._db.execute("SELECT arch, proxy FROM scores"):
            have.setdefault(arch, set()).add(proxy)
        wanted = set(proxies)
        return [i for i in indices if not wanted <= have.get(i, set())]

    def put(self, index: int, scores: Scores) -> None:
        """Store one architecture's scores in one transaction (all or nothing)."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)",
                [(index, name, score, seconds) for name, (score, seconds) in scores.items()],
            )

    def get(self, index: int, proxy: str) -> tuple[float, float] | None:
        row = self._db.execute(
            "SELECT score, seconds FROM scores WHERE arch = ? AND proxy = ?", (index, proxy)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def arrays(self, proxy: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, seconds) of ``proxy`` for indices ``0..size-1``; NaN where not computed."""
        scores = np.full(size, np.nan)
        seconds = np.full(size, np.nan)
        for arch, score, secs in self._db.execute(
            "SELECT arch, score, seconds FROM scores WHERE proxy = ?", (proxy,)
        ):
            if 0 <= arch < size:
                scores[arch], seconds[arch] = score, secs
        return scores, seconds

    def fill(
        self,
        indices: Sequence[int],
        proxies: Sequence[str],
        make_score_fn: Callable[[], ScoreFn],
        *,
        workers: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Compute and store every missing score among ``indices``; return how many were computed.

        ``make_score_fn`` is called once per worker process (it must be picklable: a module-level
        function or a ``functools.partial`` of one) and returns the function that scores one index.
        """
        todo = self.missing(indices, proxies)
        done = len(indices) - len(todo)
        if progress:
            progress(done, len(indices))
        if not todo:
            return 0
        if workers <= 1:
            score = make_score_fn()
            results: Iterable[tuple[int, Scores]] = ((i, score(i)) for i in todo)
            self._store(results, done, len(indices), progress)
        else:
            context = multiprocessing.get_context("spawn")  # torch is not fork-safe
            with context.Pool(workers, initializer=_init_worker, initargs=(make_score_fn,)) as pool:
                self._store(
                    pool.imap_unordered(_score_in_worker, todo), done, len(indices), progress
                )
        return len(todo)

    def _store(
        self,
        results: Iterable[tuple[int, Scores]],
        done: int,
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        for index, scores in results:
            self.put(index, scores)
            done += 1
            if progress:
                progress(done, total)


_worker_score: ScoreFn | None = None


def _init_worker(make_score_fn: Callable[[], ScoreFn]) -> None:
    global _worker_score
    _worker_score = make_score_fn()


def _score_in_worker(index: int) -> tuple[int, Scores]:
    assert _worker_score is not None, "worker used before its initializer ran"
    return index, _worker_score(index)
