"""SQLite storage of studies and their trials: one row per trial, so a crashed search resumes.

The file uses write-ahead logging (readers never block the writer) and records a schema version;
a file written by an incompatible version is refused rather than misread. Rows are only ever
inserted, never rewritten (but for a ``stopped`` trial, replaced by its complete rerun), so
nothing already stored is lost by a later failure.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from pmfnas.errors import StorageError
from pmfnas.spaces.base import SearchSpace
from pmfnas.types import Fidelity, Trial, TrialState

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    budget REAL
);
CREATE TABLE IF NOT EXISTS trials (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    arch TEXT NOT NULL,
    fidelity TEXT NOT NULL,
    state TEXT NOT NULL,
    metrics TEXT NOT NULL,
    cost REAL NOT NULL,
    clock REAL NOT NULL,
    curve TEXT NOT NULL,
    reason TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (study_id, number)
);
"""


class Storage:
    """A SQLite file holding any number of named studies.

    Args:
        path: the database file; created if missing. ``":memory:"`` keeps everything in memory.
        read_only: open an existing file for reading only (a missing or foreign file is an
            error, and nothing is ever written to it).
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        if read_only and not Path(path).is_file():
            raise StorageError(f"no storage file {self.path}")
        try:
            if read_only:  # a report must never create or alter the file it reads
                uri = Path(path).resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True)
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
                if not {"meta", "studies", "trials"} <= tables:
                    self._db.close()
                    raise StorageError(f"{self.path} is not a pmfnas storage file")
            else:
                self._db = sqlite3.connect(self.path)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(studies)")}
                if "budget" not in columns:  # a file of version 0.1.0
                    with self._db:
                        self._db.execute("ALTER TABLE studies ADD COLUMN budget REAL")
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not a usable pmfnas storage file: {exc}") from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            with self._db:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} has storage schema {row[0]}, this pmfnas reads schema {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    def study(self, name: str, config: dict[str, Any]) -> int:
        """The id of study ``name``, created with ``config`` if new.

        An existing study must have been made with the same config, or resuming it would mix two
        different searches: that is a :class:`StorageError`.
        """
        text = json.dumps(config, sort_keys=True)
        row = self._db.execute("SELECT id, config FROM studies WHERE name = ?", (name,)).fetchone()
        if row is not None:
            if json.loads(row[1]) != json.loads(text):
                raise StorageError(
                    f"study {name!r} in {self.path} was made with another configuration "
                    f"({row[1]}); choose another --study name or storage file"
                )
            return int(row[0])
        with self._db:
            cur = self._db.execute(
                "INSERT INTO studies (name, config, created) VALUES (?, ?, ?)",
                (name, text, time.time()),
            )
        return int(cur.lastrowid)

    def budget(self, study_id: int) -> float | None:
        """The budget the study's stored trials were made under (``None``: not recorded)."""
        row = self._db.execute("SELECT budget FROM studies WHERE id = ?", (study_id,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def set_budget(self, study_id: int, budget: float) -> None:
        with self._db:
            self._db.execute("UPDATE studies SET budget = ? WHERE id = ?", (budget, study_id))

    def studies(self) -> list[tuple[str, dict[str, Any]]]:
        """Every study's name and config, oldest first."""
        rows = self._db.execute("SELECT name, config FROM studies ORDER BY id").fetchall()
        return [(name, json.loads(config)) for name, config in rows]

    def load(self, name: str, space: SearchSpace) -> tuple[dict[str, Any], list[Trial]]:
        """The config and trials of study ``name``, without knowing its config (for reports)."""
        row = self._db.execute("SELECT id, config FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = ", ".join(n for n, _ in self.studies()) or "none"
            raise StorageError(f"no study {name!r} in {self.path} (studies: {names})")
        return json.loads(row[1]), self.trials(int(row[0]), space)

    def append(self, study_id: int, trial: Trial, space: SearchSpace) -> None:
        """Store one finished trial (atomically: it is there completely or not at all). It
        replaces a ``stopped`` trial of the same number: the run that the budget cut short."""
        with self._db:
            self._db.execute(
                "DELETE FROM trials WHERE study_id = ? AND number = ? AND state = ?",
                (study_id, trial.number, TrialState.STOPPED.value),
            )
            self._db.execute(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    study_id,
                    trial.number,
                    space.format(trial.arch),
                    str(trial.fidelity),
                    trial.state.value,
                    json.dumps(trial.metrics),
                    trial.cost,
                    trial.clock,
                    json.dumps(list(trial.curve)),
                    trial.reason,
                    trial.started,
                    trial.finished,
                    json.dumps(trial.info),
                ),
            )

    def trials(self, study_id: int, space: SearchSpace) -> list[Trial]:
        """All trials of a study in the order they ran."""
        rows = self._db.execute(
            "SELECT number, arch, fidelity, state, metrics, cost, clock, curve, reason, started, "
            "finished, info FROM trials WHERE study_id = ? ORDER BY number",
            (study_id,),
        ).fetchall()
        return [
            Trial(
                number=number,
                arch=space.parse(arch),
                fidelity=Fidelity.parse(fidelity),
                state=TrialState(state),
                metrics=json.loads(metrics),
                cost=cost,
                clock=clock,
                curve=tuple(json.loads(curve)),
                reason=reason,
                started=started,
                finished=finished,
                info=json.loads(info),
            )
            for number, arch, fidelity, state, metrics, cost, clock, curve, reason, started, finished, info in rows
        ]
