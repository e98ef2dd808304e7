"""SQLite storage of studies and their trials: one row per trial, so a crashed search resumes.

The file uses write-ahead logging (readers never block the writer) and records a schema version;
a file written by a newer version, or by another tool, is refused before anything is written.
Trial rows are only ever inserted, never rewritten (but for a ``stopped`` trial, replaced by its
complete rerun), so nothing already stored is lost by a later failure.

Many processes may share one file (``pmfnas bench`` runs one study per worker). Every write is a
short ``BEGIN IMMEDIATE`` transaction, which takes the write lock before it reads, so two writers
never deadlock upgrading a read lock; SQLite waits up to :data:`BUSY_TIMEOUT` for the lock, and an
operation still refused as locked (WAL answers "busy" without waiting while a connection recovers
or cleans up the log) is tried again with a bounded backoff. Creating the schema and creating a
study are idempotent (``IF NOT EXISTS``, ``INSERT OR IGNORE``), so processes may open a fresh file
or create the same study at once. One study is run by one process at a time: see :meth:`lease`.

While a study runs, its trials are committed in batches (:meth:`append`): a tabular search
finishes thousands of trials a second, and a commit that waits for the disk for each of them made
it several times slower. A batch is committed once it holds :data:`BATCH_TRIALS` trials or
:data:`BATCH_SECONDS` have passed since the last commit, so a trial that took that long (any real
training) is committed at once; a process killed mid-batch loses only the open batch, whose
trials a resume evaluates again, identically. Each commit is durable (``synchronous=FULL``).
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from pmfnas.errors import StorageError
from pmfnas.spaces import DEFAULT_SPACE, SearchSpace, create_space
from pmfnas.types import Fidelity, Trial, TrialState

SCHEMA_VERSION = 4
"""1: meta, studies, trials (0.1.0 files lack ``studies.budget``). 2: adds leases (one runner per
study). 3: adds ``studies.stop_reason`` (why its last run stopped). 4: adds the journal of an
asynchronous study (its submissions and arrivals in order) and its running evaluations with
their heartbeats. An older file is migrated in place."""

UNRECORDED = "not recorded (stored by a pmfnas before schema 3)"
"""The stop reason of a study stored before stop reasons were recorded."""

BATCH_TRIALS = 1000
"""A running study's open batch is committed once it holds this many trials..."""

BATCH_SECONDS = 1.0
"""...or at the first trial stored this many seconds after the last commit."""

SYNCHRONOUS = "FULL"
"""SQLite's ``synchronous`` setting for writing. Under WAL, FULL syncs the log to disk at each
commit, so a committed batch survives a power cut too; NORMAL would survive a killed process
but could lose the last commits to a power cut. With commits in batches FULL costs little."""

BUSY_TIMEOUT = 30.0
"""Seconds SQLite itself waits for another connection's lock before answering "locked"."""

LOCK_RETRIES = 8
"""Further tries of an operation answered "locked", after 0.1, 0.2, ... up to 2 s of backoff."""

LEASE_TIMEOUT = 24 * 3600.0
"""A lease not refreshed for this long is stale. The heartbeat is refreshed with each stored
trial and one trial may be a long training, so the bound is generous; a holder on the same host
whose process is gone is recognised at once."""

_TABLES = {
    "meta": "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "studies": """CREATE TABLE IF NOT EXISTS studies (
        id INTEGER PRIMARY KEY,
        name TEXT UNIQUE NOT NULL,
        config TEXT NOT NULL,
        created REAL NOT NULL,
        budget REAL,
        stop_reason TEXT
    )""",
    "trials": """CREATE TABLE IF NOT EXISTS trials (
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
    )""",
    "leases": """CREATE TABLE IF NOT EXISTS leases (
        study_id INTEGER PRIMARY KEY REFERENCES studies(id),
        pid INTEGER NOT NULL, host TEXT NOT NULL, token TEXT NOT NULL, heartbeat REAL NOT NULL
    )""",
    "journal": """CREATE TABLE IF NOT EXISTS journal (
        study_id INTEGER NOT NULL REFERENCES studies(id),
        seq INTEGER NOT NULL, kind TEXT NOT NULL, ticket INTEGER, clock REAL NOT NULL,
        arch TEXT, fidelity TEXT,
        PRIMARY KEY (study_id, seq)
    )""",
    "running": """CREATE TABLE IF NOT EXISTS running (
        study_id INTEGER NOT NULL REFERENCES studies(id),
        ticket INTEGER NOT NULL, arch TEXT NOT NULL, fidelity TEXT NOT NULL,
        submitted REAL NOT NULL, heartbeat REAL NOT NULL,
        PRIMARY KEY (study_id, ticket)
    )""",
}
_READABLE = {"meta", "studies", "trials"}  # what a v1 file already has: enough to read it
_ADDED_COLUMNS = {"budget": "REAL", "stop_reason": "TEXT"}
"""Columns of ``studies`` that older files lack: added when such a file is opened for writing."""
_ABSENT = object()  # a setting one of two configs lacks

T = TypeVar("T")

_INSERT_TRIAL = "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_EVENT = "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?)"
_START_RUNNING = "INSERT OR REPLACE INTO running VALUES (?, ?, ?, ?, ?, ?)"
_END_RUNNING = "DELETE FROM running WHERE study_id = ? AND ticket = ?"
_BEAT = "UPDATE running SET heartbeat = ? WHERE study_id = ? AND ticket = ?"


@dataclass(frozen=True)
class JournalEvent:
    """One step of an asynchronous study, in the order it happened: ``submit`` (ticket, its
    architecture and fidelity as text, the clock), ``arrive`` (the ticket whose result came
    back; its trials follow in the trials table) or ``now`` (the loop read a new clock)."""

    seq: int
    kind: str
    ticket: int | None
    clock: float
    arch: str | None = None
    fidelity: str | None = None


@dataclass(frozen=True)
class RunningTrial:
    """An evaluation submitted and not yet finished, with its worker's last heartbeat."""

    ticket: int
    arch: str
    fidelity: str
    submitted: float
    heartbeat: float


class Storage:
    """A SQLite file holding any number of named studies.

    Args:
        path: the database file; created if missing. ``":memory:"`` keeps everything in memory.
        read_only: open an existing file for reading only: a missing, empty, foreign or
            half-created file is a :class:`StorageError`, and nothing is ever written to it.
        busy_timeout: seconds to wait for another process's lock before backing off.
        lease_timeout: seconds after which another holder's silent lease is stale.
        batch_trials, batch_seconds: when a leased study's open batch is committed (default
            :data:`BATCH_TRIALS`, :data:`BATCH_SECONDS`; ``batch_trials=1`` commits each trial).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        busy_timeout: float = BUSY_TIMEOUT,
        lease_timeout: float = LEASE_TIMEOUT,
        batch_trials: int | None = None,
        batch_seconds: float | None = None,
    ) -> None:
        self.path = str(path)
        self.lease_timeout = lease_timeout
        self.batch_trials = BATCH_TRIALS if batch_trials is None else batch_trials
        self.batch_seconds = BATCH_SECONDS if batch_seconds is None else batch_seconds
        self._leases: dict[int, str] = {}  # study id → token of the lease this object holds
        self._batch: list[tuple[str, tuple[Any, ...]]] = []  # statements not yet committed
        self._batched = 0  # trials in the batch
        self._committed = -math.inf  # time.monotonic() of the last commit
        if read_only and not Path(path).is_file():
            raise StorageError(f"no storage file {self.path}")
        # a report must never create or alter the file it reads: SQLite opens it read-only
        target = Path(path).resolve().as_uri() + "?mode=ro" if read_only else self.path
        self._db = self._retry(
            lambda: sqlite3.connect(
                target, uri=read_only, timeout=busy_timeout, isolation_level=None
            )
        )
        try:
            if read_only:
                self._check_readable()
            else:
                self._retry(lambda: self._db.execute(f"PRAGMA synchronous={SYNCHRONOUS}"))
                self._prepare()
        except BaseException:
            self._db.close()
            raise

    def _check_readable(self) -> None:
        tables, version = self._retry(lambda: _inspect(self._db))
        self._refuse_foreign(tables, version)
        if version is None:  # empty, or made by a process still at it: nothing to read yet
            raise StorageError(f"{self.path} is not a pmfnas storage file (or is still being made)")

    def _prepare(self) -> None:
        """Check the file, then create or migrate its schema unless it is already current."""
        if self._retry(self._current):
            return  # the usual open writes nothing
        self._retry(lambda: self._db.execute("PRAGMA journal_mode=WAL"))

        def create(db: sqlite3.Connection) -> None:
            if self._current():  # another process made it meanwhile
                return
            for statement in _TABLES.values():
                db.execute(statement)
            for column in _missing_columns(db):
                db.execute(f"ALTER TABLE studies ADD COLUMN {column} {_ADDED_COLUMNS[column]}")
                if column == "stop_reason":  # how the runs of the studies already there ended
                    db.execute("UPDATE studies SET stop_reason = ?", (UNRECORDED,))
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

        self._write(create)

    def _current(self) -> bool:
        """Whether the schema is this version's; refuses a foreign or newer file first."""
        tables, version = _inspect(self._db)
        self._refuse_foreign(tables, version)
        return (
            version == SCHEMA_VERSION and set(_TABLES) <= tables and not _missing_columns(self._db)
        )

    def _refuse_foreign(self, tables: set[str], version: int | None) -> None:
        """Refuse a file of another tool or of a newer pmfnas; an empty or v1 file is fine."""
        if version is None and not tables <= set(_TABLES):
            raise StorageError(
                f"{self.path} is not a pmfnas storage file (it holds the tables "
                f"{', '.join(sorted(tables))}); choose another --storage file"
            )
        if version is not None and version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} has storage schema {version}, newer than this pmfnas reads "
                f"({SCHEMA_VERSION}); upgrade pmfnas to use it"
            )
        if version is not None and not tables >= _READABLE:
            raise StorageError(f"{self.path} is not a usable pmfnas storage file: tables missing")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry(self, work: Callable[[], T]) -> T:
        """Run ``work``, again after a backoff while the file is locked; other SQLite failures
        (read-only file, damaged file) become one clear :class:`StorageError`."""
        waited = 0.0
        for attempt in range(LOCK_RETRIES + 1):
            try:
                return work()
            except sqlite3.IntegrityError:
                raise  # a constraint the caller broke (a trial number stored twice), not the file
            except sqlite3.DatabaseError as exc:
                code = getattr(exc, "sqlite_errorname", "")  # absent on errors raised here
                if code == "SQLITE_NOTADB":
                    raise StorageError(f"{self.path} is not a SQLite file") from None
                if code.startswith("SQLITE_READONLY"):
                    raise StorageError(
                        f"{self.path} is read-only; a search stores its trials there: make it "
                        "writable or choose another --storage file"
                    ) from None
                if not code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                    raise StorageError(
                        f"{self.path} is not a usable pmfnas storage file: {exc}"
                    ) from None
                if attempt == LOCK_RETRIES:
                    raise StorageError(
                        f"{self.path} stayed locked by other processes ({waited:.0f} s of "
                        "backoff after SQLite's own waits); try again when they are done"
                    ) from None
                pause = min(2.0, 0.1 * 2**attempt)
                time.sleep(pause)
                waited += pause
        raise AssertionError("unreachable")

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction: all of it is stored or none."""

        def transaction() -> T:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
                self._db.execute("COMMIT")
                return result
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

        return self._retry(transaction)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._retry(lambda: self._db.execute(sql, params).fetchall())

    def _read_committed(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """:meth:`_read` after committing the open batch, so that it reads what was appended."""
        if self._batch:
            self.commit()
        return self._read(sql, params)

    def study(
        self, name: str, config: dict[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> int:
        """The id of study ``name``, created with ``config`` if new.

        An existing study must have been made with the same config, or resuming it would mix two
        different searches: that is a :class:`StorageError`. ``defaults`` are the strategy's
        parameters at their defaults: one absent from the stored ``params`` (added to the
        strategy since) counts as its default, so that an older study resumes as it ran.
        """
        text = json.dumps(config, sort_keys=True)

        def find_or_create(db: sqlite3.Connection) -> tuple[int, str]:
            db.execute(
                "INSERT OR IGNORE INTO studies (name, config, created) VALUES (?, ?, ?)",
                (name, text, time.time()),
            )
            return db.execute("SELECT id, config FROM studies WHERE name = ?", (name,)).fetchone()

        study_id, stored = self._write(find_or_create)
        before = self._config(name, stored)
        if defaults and isinstance(before.get("params"), dict):
            known = json.loads(json.dumps(dict(defaults)))  # as JSON would have stored them
            before["params"] = {**known, **before["params"]}
        if differences := config_differences(before, json.loads(text)):
            raise StorageError(
                f"study {name!r} in {self.path} was made with other settings "
                f"({'; '.join(differences)}); choose another --study name or storage file"
            )
        return int(study_id)

    def _config(self, name: str, text: str) -> dict[str, Any]:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StorageError(f"study {name!r} in {self.path}: corrupt config ({exc})") from None

    def budget(self, study_id: int) -> float | None:
        """The budget the study's stored trials were made under (``None``: not recorded)."""
        rows = self._read("SELECT budget FROM studies WHERE id = ?", (study_id,))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def finish(self, study_id: int, budget: float | None, stop_reason: str) -> None:
        """Record the budget a run of the study planned with (``None``: none) and why it
        stopped."""
        self._write(
            lambda db: db.execute(
                "UPDATE studies SET budget = ?, stop_reason = ? WHERE id = ?",
                (budget, stop_reason, study_id),
            )
        )

    def stop_reason(self, name: str) -> str | None:
        """Why the last run of study ``name`` stopped; ``None`` while it runs, or when it did not
        end (killed, or failed); :data:`UNRECORDED` for a file older than schema 3."""
        if "stop_reason" in self._retry(lambda: _missing_columns(self._db)):
            return UNRECORDED
        rows = self._read("SELECT stop_reason FROM studies WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def running(self, name: str) -> bool:
        """Whether a live process holds the lease of study ``name`` (:meth:`lease`)."""
        tables, _ = self._retry(lambda: _inspect(self._db))
        if "leases" not in tables:  # a version 1 file: nothing ran it since
            return False
        rows = self._read(
            "SELECT l.pid, l.host, l.heartbeat FROM leases l JOIN studies s ON s.id = l.study_id "
            "WHERE s.name = ?",
            (name,),
        )
        return bool(rows) and not self._stale(*rows[0])

    def studies(self) -> list[tuple[str, dict[str, Any]]]:
        """Every study's name and config, oldest first."""
        rows = self._read("SELECT name, config FROM studies ORDER BY id")
        return [(name, self._config(name, config)) for name, config in rows]

    def load(
        self, name: str, space: SearchSpace | None = None
    ) -> tuple[dict[str, Any], list[Trial]]:
        """The config and trials of study ``name``, without knowing its config (for reports);
        the architectures are read by ``space``, by default the one the config names."""
        study_id, text = self._find(name)
        config = self._config(name, text)
        space = space or create_space(config.get("space", DEFAULT_SPACE))
        return config, self.trials(study_id, space)

    def in_flight(self, name: str) -> list[RunningTrial]:
        """The evaluations of study ``name`` submitted and not finished: those of its live run,
        or those its last run left when it was killed (a rerun evaluates them again)."""
        study_id, _ = self._find(name)
        return self.running_trials(study_id)

    def _find(self, name: str) -> tuple[int, str]:
        """The id and stored config text of study ``name``; the error lists the studies."""
        rows = self._read("SELECT id, config FROM studies WHERE name = ?", (name,))
        if not rows:
            names = ", ".join(n for n, _ in self.studies()) or "none"
            raise StorageError(f"no study {name!r} in {self.path} (studies: {names})")
        return int(rows[0][0]), rows[0][1]

    @contextmanager
    def lease(self, study_id: int, name: str) -> Iterator[None]:
        """Hold study ``name`` for this process while the block runs, so no other runs it too.

        The lease records the holder's pid, host and heartbeat (refreshed by each commit of
        :meth:`append`). A live holder's lease is a :class:`StorageError`; a stale one (holder on
        this host gone, or no heartbeat for :attr:`lease_timeout` seconds) is taken over. Until
        the run records why it stopped (:meth:`finish`), the study has no stop reason. When the
        block ends, by an exception too, the open batch of trials is committed and the lease
        released.
        """
        token = uuid.uuid4().hex

        def take(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT pid, host, heartbeat FROM leases WHERE study_id = ?", (study_id,)
            ).fetchone()
            if row is not None and not self._stale(*row):
                pid, host, heartbeat = row
                raise StorageError(
                    f"study {name!r} in {self.path} is being run by pid {pid} on {host} (last "
                    f"heartbeat {max(0.0, time.time() - heartbeat):.0f} s ago); wait for it to finish or "
                    "use another --study"
                )
            db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                (study_id, os.getpid(), socket.gethostname(), token, time.time()),
            )
            db.execute("UPDATE studies SET stop_reason = NULL WHERE id = ?", (study_id,))

        self._write(take)
        self._leases[study_id] = token
        self._committed = time.monotonic()
        try:
            yield
        finally:
            try:
                self.commit()
            finally:
                del self._leases[study_id]
                self._write(
                    lambda db: db.execute(
                        "DELETE FROM leases WHERE study_id = ? AND token = ?", (study_id, token)
                    )
                )

    def _stale(self, pid: int, host: str, heartbeat: float) -> bool:
        if time.time() - heartbeat > self.lease_timeout:
            return True
        return host == socket.gethostname() and not _alive(pid)

    def append(self, study_id: int, trial: Trial, space: SearchSpace) -> None:
        """Store one finished trial; it replaces a ``stopped`` trial of the same number (the run
        that the budget cut short).

        Under this object's lease of the study the trial joins the open batch, which is
        committed once it holds :attr:`batch_trials` trials, at the first trial
        :attr:`batch_seconds` after the last commit, and when the lease ends; otherwise the
        trial is committed at once. See :meth:`commit`.
        """
        row = (
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
        )
        self._batch.append((_INSERT_TRIAL, row))
        self._batched += 1
        self._flush_if_due(study_id)

    def record(self, study_id: int, event: JournalEvent) -> None:
        """Add ``event`` to the study's journal, in the batch with its trials; a ``submit``
        marks its evaluation running (with a heartbeat), an ``arrive`` ends that."""
        row = (study_id, event.seq, event.kind, event.ticket, event.clock, event.arch)
        self._batch.append((_INSERT_EVENT, (*row, event.fidelity)))
        if event.kind == "submit":
            now = time.time()
            running = (study_id, event.ticket, event.arch, event.fidelity, now, now)
            self._batch.append((_START_RUNNING, running))
        elif event.kind == "arrive":
            self._batch.append((_END_RUNNING, (study_id, event.ticket)))
        self._flush_if_due(study_id)

    def beat(self, study_id: int, heartbeats: dict[int, float]) -> None:
        """Record the last heartbeat of each running ticket's worker (with the next commit)."""
        self._batch += [(_BEAT, (when, study_id, t)) for t, when in sorted(heartbeats.items())]

    def _flush_if_due(self, study_id: int) -> None:
        if (
            study_id not in self._leases
            or self._batched >= self.batch_trials
            or time.monotonic() - self._committed >= self.batch_seconds
        ):
            self.commit()

    def commit(self) -> None:
        """Store the open batch in one transaction (all of it or nothing), refreshing the
        heartbeat of each study in it that this object leases.

        A batch that fails is dropped (a resume evaluates its trials again), but for one cut by
        Ctrl-C before its commit, which the lease's end commits.
        """
        rows, self._batch, self._batched = self._batch, [], 0
        if rows:
            try:
                self._write(lambda db: self._insert(db, rows))
            except KeyboardInterrupt:
                if not self._stored(rows):  # an interrupt right after COMMIT lands here too
                    self._batch = rows
                    self._batched = sum(statement == _INSERT_TRIAL for statement, _ in rows)
                raise
        self._committed = time.monotonic()

    def _insert(self, db: sqlite3.Connection, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        stopped = TrialState.STOPPED.value
        for statement, row in batch:
            if statement == _INSERT_TRIAL:
                db.execute(
                    "DELETE FROM trials WHERE study_id = ? AND number = ? AND state = ?",
                    (row[0], row[1], stopped),
                )
            db.execute(statement, row)
        studies = {row[1] if statement == _BEAT else row[0] for statement, row in batch}
        for study_id in sorted(studies & set(self._leases)):
            beat = db.execute(
                "UPDATE leases SET heartbeat = ? WHERE study_id = ? AND token = ?",
                (time.time(), study_id, self._leases[study_id]),
            )
            if beat.rowcount == 0:
                raise StorageError(
                    f"study {self._name(study_id)!r} in {self.path} was taken over by another "
                    f"process (no trial stored for over {self.lease_timeout:g} s); this run stops"
                )

    def _stored(self, batch: list[tuple[str, tuple[Any, ...]]]) -> bool:
        """Whether the last trial or journal event of ``batch`` is in the file."""
        for statement, row in reversed(batch):
            if statement == _INSERT_TRIAL:
                query = "SELECT 1 FROM trials WHERE study_id = ? AND number = ? AND started = ?"
                return bool(self._read(query, (row[0], row[1], row[10])))
            if statement == _INSERT_EVENT:
                query = "SELECT 1 FROM journal WHERE study_id = ? AND seq = ?"
                return bool(self._read(query, (row[0], row[1])))
        return True  # only heartbeats: nothing to lose

    def _name(self, study_id: int) -> str:
        rows = self._read("SELECT name FROM studies WHERE id = ?", (study_id,))
        return rows[0][0] if rows else f"#{study_id}"

    def trials(self, study_id: int, space: SearchSpace) -> list[Trial]:
        """All trials of a study in the order they ran (the open batch committed first); a
        damaged row is a StorageError."""
        rows = self._read_committed(
            "SELECT number, arch, fidelity, state, metrics, cost, clock, curve, reason, started, "
            "finished, info FROM trials WHERE study_id = ? ORDER BY number",
            (study_id,),
        )
        trials = []
        for row in rows:
            try:
                trials.append(_trial(row, space))
            except (ValueError, TypeError) as exc:
                raise StorageError(
                    f"study {self._name(study_id)!r} in {self.path}: trial {row[0]} is damaged "
                    f"({exc}); the study cannot be resumed or reported from this file"
                ) from None
        return trials

    def events(self, study_id: int) -> list[JournalEvent]:
        """The study's journal in order (the open batch committed first)."""
        rows = self._read_committed(
            "SELECT seq, kind, ticket, clock, arch, fidelity FROM journal WHERE study_id = ? "
            "ORDER BY seq",
            (study_id,),
        )
        return [JournalEvent(*row) for row in rows]

    def running_trials(self, study_id: int) -> list[RunningTrial]:
        """The study's evaluations in flight (as its last run left them, if it was killed)."""
        tables, _ = self._retry(lambda: _inspect(self._db))
        if "running" not in tables:  # a version 1 file: nothing ran it since
            return []
        rows = self._read_committed(
            "SELECT ticket, arch, fidelity, submitted, heartbeat FROM running WHERE study_id = ? "
            "ORDER BY ticket",
            (study_id,),
        )
        return [RunningTrial(*row) for row in rows]

    def truncate(self, study_id: int, trials_from: int, events_from: int) -> None:
        """Forget the trials numbered from ``trials_from`` and the journal from ``events_from``
        on, and every running mark: a resumed study runs again what came after that point."""

        def cut(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM trials WHERE study_id = ? AND number >= ?", (study_id, trials_from)
            )
            db.execute(
                "DELETE FROM journal WHERE study_id = ? AND seq >= ?", (study_id, events_from)
            )
            db.execute("DELETE FROM running WHERE study_id = ?", (study_id,))

        if self._batch:
            self.commit()
        self._write(cut)


def _trial(row: tuple[Any, ...], space: SearchSpace) -> Trial:
    """One stored row as a trial; ``ValueError`` or ``TypeError`` when it is damaged."""
    number, arch, fidelity, state, metrics, cost, clock, curve, reason, started, finished, info = (
        row
    )
    return Trial(
        number=number,
        arch=space.parse(arch),
        fidelity=Fidelity.parse(fidelity),
        state=TrialState(state),
        metrics=_loads(metrics, "metrics"),
        cost=cost,
        clock=clock,
        curve=tuple(_loads(curve, "curve")),
        reason=reason,
        started=started,
        finished=finished,
        info=_loads(info, "info"),
    )


def config_differences(
    stored: dict[str, Any], given: dict[str, Any], prefix: str = ""
) -> list[str]:
    """``key: stored A, now B`` for each setting that differs, nested ones by dotted key (a
    setting stored as a JSON object, like a training recipe, is compared key by key)."""
    lines = []
    for key in sorted(stored.keys() | given.keys(), key=str):
        old, new = stored.get(key, _ABSENT), given.get(key, _ABSENT)
        if old == new:
            continue
        old_keys, new_keys = _as_mapping(old), _as_mapping(new)
        if old_keys is not None and new_keys is not None:
            lines += config_differences(old_keys, new_keys, f"{prefix}{key}.")
        else:
            lines.append(f"{prefix}{key}: stored {_shown(old)}, now {_shown(new)}")
    return lines


def _as_mapping(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _shown(value: Any) -> str:
    return "nothing" if value is _ABSENT else json.dumps(value)


def _inspect(db: sqlite3.Connection) -> tuple[set[str], int | None]:
    """The file's tables and its schema version (``None``: no pmfnas version recorded)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        return tables, None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return tables, None
    try:
        return tables, int(row[0])
    except ValueError:
        raise sqlite3.DatabaseError(f"schema version {row[0]!r} is not a number") from None


def _missing_columns(db: sqlite3.Connection) -> list[str]:
    """The columns of :data:`_ADDED_COLUMNS` that the file's ``studies`` table lacks."""
    present = {r[1] for r in db.execute("PRAGMA table_info(studies)")}
    return [column for column in _ADDED_COLUMNS if column not in present]


def _loads(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{field} is not valid JSON: {exc}") from None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (unknown off POSIX: assumed alive)."""
    if os.name != "posix":
        return True  # os.kill would terminate it there; the heartbeat timeout decides instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
