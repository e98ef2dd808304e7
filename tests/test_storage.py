import contextlib
import json
import math
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from pmfnas.errors import StorageError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import LOCK_RETRIES, SCHEMA_VERSION, UNRECORDED, JournalEvent, Storage
from pmfnas.types import Fidelity, Trial, TrialState


def _trial(number: int) -> Trial:
    return Trial(
        number=number,
        arch=(3, 3, 3, 1, 3, 2),
        fidelity=Fidelity(epochs=12),
        state=TrialState.COMPLETE,
        metrics={"val_acc": 91.5},
        cost=123.4,
        clock=123.4 * (number + 1),
        curve=({"epoch": 1, "val_acc": 50.0},),
        reason="test",
        started=1.0,
        finished=2.0,
        info={"note": "x"},
    )


def test_round_trip(tmp_path):
    space = NB201Space()
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {"a": 1})
    for n in range(3):
        db.append(sid, _trial(n), space)
    db.close()
    db = Storage(path)
    assert db.study("s", {"a": 1}) == sid
    assert db.trials(sid, space) == [_trial(n) for n in range(3)]
    assert db.studies() == [("s", {"a": 1})]


def test_uses_wal_and_syncs_every_commit(tmp_path):
    db = Storage(tmp_path / "runs.db")
    assert db._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    db.close()
    con = sqlite3.connect(tmp_path / "runs.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_config_mismatch_is_refused_naming_only_the_keys_that_differ(tmp_path):
    db = Storage(tmp_path / "runs.db")
    recipe = '{"channels": 4, "epochs": 12}'  # a setting stored as a JSON object
    stored = {"seed": 0, "reuse": True, "params": {"population": 5, "fidelity": "epochs=12"}}
    db.study("s", {**stored, "evaluator": {"data": "digits", "recipe": recipe}})
    given = {"seed": 0, "reuse": False, "params": {"population": 10, "fidelity": "epochs=12"}}
    given["evaluator"] = {"data": "digits", "recipe": '{"channels": 8, "epochs": 12}'}
    with pytest.raises(StorageError) as refused:
        db.study("s", {**given, "threads": 1})
    assert str(refused.value) == (
        f"study 's' in {tmp_path / 'runs.db'} was made with other settings "
        "(evaluator.recipe.channels: stored 4, now 8; params.population: stored 5, now 10; "
        "reuse: stored true, now false; threads: stored nothing, now 1); "
        "choose another --study name or storage file"
    )


def test_a_parameter_added_since_counts_as_its_default_in_an_older_study(tmp_path):
    db = Storage(tmp_path / "runs.db")
    db.study("s", {"seed": 0, "params": {"population": 5}})  # stored before "climb" existed
    defaults = {"population": 10, "climb": 1}
    assert db.study("s", {"seed": 0, "params": {"population": 5, "climb": 1}}, defaults) == 1
    with pytest.raises(StorageError, match=r"params\.climb: stored 1, now 3"):
        db.study("s", {"seed": 0, "params": {"population": 5, "climb": 3}}, defaults)
    with pytest.raises(StorageError, match=r"params\.climb: stored nothing, now 1"):
        db.study("s", {"seed": 0, "params": {"population": 5, "climb": 1}})  # no defaults


def test_duplicate_trial_number_is_refused_and_keeps_the_first(tmp_path):
    space = NB201Space()
    db = Storage(tmp_path / "runs.db")
    sid = db.study("s", {})
    db.append(sid, _trial(0), space)
    with pytest.raises(sqlite3.IntegrityError):
        db.append(sid, _trial(0), space)
    assert len(db.trials(sid, space)) == 1


def test_other_schema_version_is_refused(tmp_path):
    path = tmp_path / "runs.db"
    Storage(path).close()
    con = sqlite3.connect(path)
    con.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    con.commit()
    con.close()
    with pytest.raises(StorageError):
        Storage(path)


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("size", [1, 100])
def test_a_file_that_is_not_sqlite_says_so(tmp_path, read_only, size):
    path = tmp_path / "x.txt"
    path.write_text("this is not sqlite, " * size)
    before = path.read_bytes()
    with pytest.raises(StorageError, match=r"^\S*x\.txt is not a SQLite file$"):
        Storage(path, read_only=read_only)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- concurrency


def _hammer(folder, barrier, worker, files, studies, trials):
    """One process of the concurrency test: for each fresh file, at the moment the others do,
    create it, a study they all share and studies of its own, and append trials under a lease."""
    space = NB201Space()
    try:
        for f in range(files):
            barrier.wait(timeout=300)  # times out only when a sibling died without aborting it
            db = Storage(folder / f"{f}.db")
            db.study("shared", {"same": True})
            for s in range(studies):
                sid = db.study(f"w{worker}-s{s}", {"worker": worker})
                with db.lease(sid, f"w{worker}-s{s}"):
                    for n in range(trials):
                        db.append(sid, _trial(n), space)
            db.close()
    except BaseException:
        barrier.abort()  # the siblings stop at once instead of waiting for this one
        raise


def test_processes_sharing_fresh_files_create_and_append_without_errors(tmp_path):
    workers, files, studies, trials = 4, 4, 2, 5
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    processes = [
        context.Process(target=_hammer, args=(tmp_path, barrier, k, files, studies, trials))
        for k in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert [p.exitcode for p in processes] == [0] * workers  # no lock or constraint error
    expected = ["shared"] + [f"w{k}-s{s}" for k in range(workers) for s in range(studies)]
    for f in range(files):
        with sqlite3.connect(tmp_path / f"{f}.db") as con:
            names = [r[0] for r in con.execute("SELECT name FROM studies")]
            stored = con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
            leases = con.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
            version = con.execute("SELECT value FROM meta").fetchall()
        con.close()
        assert sorted(names) == sorted(expected)
        assert stored == workers * studies * trials and leases == 0
        assert version == [(str(SCHEMA_VERSION),)]


def _blocked(path):
    """A second connection holding the write lock of ``path``."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def test_a_locked_file_is_retried_after_a_backoff(tmp_path, monkeypatch):
    path = tmp_path / "runs.db"
    db = Storage(path, busy_timeout=0)  # SQLite answers "locked" at once
    sid = db.study("s", {})
    blocker = _blocked(path)
    pauses = []

    def pause(seconds):  # the other process finishes its transaction while we back off
        pauses.append(seconds)
        blocker.execute("COMMIT")

    monkeypatch.setattr("pmfnas.storage.time.sleep", pause)
    db.append(sid, _trial(0), NB201Space())
    assert pauses == [0.1]
    assert len(db.trials(sid, NB201Space())) == 1


def test_a_file_that_stays_locked_is_one_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "runs.db"
    db = Storage(path, busy_timeout=0)
    sid = db.study("s", {})
    blocker = _blocked(path)
    pauses = []
    monkeypatch.setattr("pmfnas.storage.time.sleep", pauses.append)
    with pytest.raises(StorageError, match="stayed locked by other processes"):
        db.append(sid, _trial(0), NB201Space())
    assert len(pauses) == LOCK_RETRIES and max(pauses) == 2.0
    blocker.execute("ROLLBACK")
    assert db.trials(sid, NB201Space()) == []


def test_a_read_only_file_is_one_clear_error(tmp_path):
    path = tmp_path / "runs.db"
    db = Storage(path)
    db.study("s", {})
    db._db.execute("PRAGMA query_only = 1")  # what SQLite does with a file it cannot write
    with pytest.raises(StorageError, match=r"runs\.db is read-only"):
        db.study("s", {})


# ---------------------------------------------------------------- what a file is


def _foreign(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (name TEXT)")
    con.execute("INSERT INTO users VALUES ('ada')")
    con.commit()
    con.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_file_of_another_tool_is_refused_before_anything_is_written(tmp_path, read_only):
    path = tmp_path / "other.db"
    _foreign(path)
    before = path.read_bytes()
    with pytest.raises(StorageError, match=r"not a pmfnas storage file .*users"):
        Storage(path, read_only=read_only)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # no WAL file either


def test_a_newer_schema_is_refused_before_any_table_is_created(tmp_path):
    path = tmp_path / "runs.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),))
    con.close()
    with pytest.raises(StorageError, match=f"schema {SCHEMA_VERSION + 1}, newer"):
        Storage(path)
    with sqlite3.connect(path) as con:
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == [
            "meta",
            "sqlite_autoindex_meta_1",
        ]
    con.close()


def test_a_version_1_file_is_migrated_in_place_keeping_its_trials(tmp_path):
    space = NB201Space()
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {"a": 1})
    db.append(sid, _trial(0), space)
    db.close()
    with sqlite3.connect(path) as con:  # make it what 0.1.0 wrote: version 1, no leases, no budget
        con.execute("DROP TABLE leases")
        con.execute("DROP TABLE journal")
        con.execute("DROP TABLE running")
        con.execute("ALTER TABLE studies DROP COLUMN budget")
        con.execute("ALTER TABLE studies DROP COLUMN stop_reason")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    reader = Storage(path, read_only=True)
    assert reader.load("s", space) == ({"a": 1}, [_trial(0)])
    assert reader.stop_reason("s") == UNRECORDED and not reader.running("s")
    db = Storage(path)
    assert db.stop_reason("s") == UNRECORDED
    with db.lease(sid, "s"):
        db.append(sid, _trial(1), space)
    assert db.trials(sid, space) == [_trial(0), _trial(1)]
    assert db.budget(sid) is None
    db.finish(sid, 300.0, "budget spent")
    assert db.budget(sid) == 300.0 and db.stop_reason("s") == "budget spent"
    assert db.events(sid) == [] and db.running_trials(sid) == []  # the journal's tables exist
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)]
    con.close()


def test_the_journal_keeps_order_and_marks_what_is_running(tmp_path):
    with Storage(tmp_path / "runs.db") as db:
        sid = db.study("s", {})
        with db.lease(sid, "s"):
            db.record(sid, JournalEvent(0, "submit", 0, 0.0, "|a|", "epochs=12"))
            db.record(sid, JournalEvent(1, "submit", 1, 0.0, "|b|", "epochs=12"))
            db.beat(sid, {0: 123.0, 1: 456.0})
            db.record(sid, JournalEvent(2, "arrive", 1, 5.0))
            db.commit()
            (left,) = db.running_trials(sid)
            assert (left.ticket, left.arch, left.heartbeat) == (0, "|a|", 123.0)
            assert [(e.seq, e.kind, e.ticket) for e in db.events(sid)] == [
                (0, "submit", 0), (1, "submit", 1), (2, "arrive", 1)
            ]  # fmt: skip
            db.truncate(sid, trials_from=0, events_from=1)
            assert [e.seq for e in db.events(sid)] == [0] and db.running_trials(sid) == []


@pytest.mark.parametrize("content", ["empty", "half-made"])
def test_a_read_only_open_of_an_unfinished_file_never_writes(tmp_path, content):
    path = tmp_path / "runs.db"
    path.touch()
    if content == "half-made":  # what a process creating the file may have so far
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="still being made"):
        Storage(path, read_only=True)
    assert path.read_bytes() == before
    Storage(path).close()  # the creator finishes it
    assert Storage(path, read_only=True).studies() == []


def test_a_damaged_trial_row_names_the_study_and_the_trial(tmp_path):
    space = NB201Space()
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {})
    for n in range(3):
        db.append(sid, _trial(n), space)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE trials SET curve = '[{\"epoch\": 1,' WHERE number = 1")
    con.close()
    with pytest.raises(StorageError, match=r"study 's' in .*: trial 1 is damaged \(curve is not"):
        db.trials(sid, space)
    with pytest.raises(StorageError, match="trial 1 is damaged"):
        Storage(path, read_only=True).load("s", space)


# ---------------------------------------------------------------- one runner per study


def _lease_row(path):
    with sqlite3.connect(path) as con:
        row = con.execute("SELECT pid, host, heartbeat FROM leases").fetchone()
    con.close()
    return row


def _set_lease(path, **values):
    """Make the stored lease look as if another holder wrote it."""
    with sqlite3.connect(path) as con:
        for column, value in values.items():
            con.execute(f"UPDATE leases SET {column} = ?", (value,))
    con.close()


def test_a_study_held_by_a_live_process_is_refused_until_released(tmp_path):
    path = tmp_path / "runs.db"
    holder = Storage(path)
    sid = holder.study("s", {})
    other = Storage(path)
    with holder.lease(sid, "s"):
        pattern = rf"study 's' in .* is being run by pid {os.getpid()} on .*heartbeat \d+ s ago"
        with pytest.raises(StorageError, match=pattern), other.lease(sid, "s"):
            pass
    with other.lease(sid, "s"):
        assert _lease_row(path)[0] == os.getpid()
    assert _lease_row(path) is None


def test_a_lease_is_released_when_the_run_fails(tmp_path):
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {})
    with pytest.raises(KeyboardInterrupt), db.lease(sid, "s"):
        raise KeyboardInterrupt
    assert _lease_row(path) is None


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with db.lease(sid, "s"):
        _set_lease(path, pid=int(dead.stdout), token="theirs")  # it held the lease, then died
    with Storage(path).lease(sid, "s"):
        assert _lease_row(path)[0] == os.getpid()


def test_a_lease_from_another_host_is_taken_over_only_once_stale(tmp_path):
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {})
    with db.lease(sid, "s"):
        _set_lease(path, host="elsewhere", pid=4321, token="theirs")
    other = Storage(path, lease_timeout=3600)
    with pytest.raises(StorageError, match="pid 4321 on elsewhere"), other.lease(sid, "s"):
        pass
    _set_lease(path, heartbeat=time.time() - 7200)  # two hours without a trial
    with other.lease(sid, "s"):
        assert _lease_row(path)[:2] == (os.getpid(), socket.gethostname())


def test_each_commit_refreshes_the_heartbeat_and_a_lost_lease_stops_the_run(tmp_path):
    space = NB201Space()
    path = tmp_path / "runs.db"
    db = Storage(path, batch_trials=1)
    sid = db.study("s", {})
    with db.lease(sid, "s"):
        _set_lease(path, heartbeat=0.0)
        db.append(sid, _trial(0), space)
        assert _lease_row(path)[2] > 0.0
        _set_lease(path, token="taken over by another process")
        with pytest.raises(StorageError, match=r"study 's' in .* was taken over"):
            db.append(sid, _trial(1), space)
    assert db.trials(sid, space) == [_trial(0)]  # the refused trial is not stored
    assert _lease_row(path) is not None  # and the new holder's lease is kept


# ---------------------------------------------------------------- commits in batches


def _committed(path):
    """The trial numbers another connection sees in ``path``."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        return [r[0] for r in con.execute("SELECT number FROM trials ORDER BY number")]


def test_a_leased_study_commits_its_trials_in_batches_and_the_rest_when_the_lease_ends(tmp_path):
    space, path = NB201Space(), tmp_path / "runs.db"
    db = Storage(path, batch_trials=3, batch_seconds=math.inf)
    sid = db.study("s", {})
    with db.lease(sid, "s"):
        for n in range(5):
            db.append(sid, _trial(n), space)
            assert _committed(path) == list(range(3 if n >= 2 else 0))
    assert _committed(path) == list(range(5))


def test_a_trial_stored_a_while_after_the_last_commit_is_committed_at_once(tmp_path, monkeypatch):
    """What keeps a real-training trial (minutes) from waiting in a batch."""
    space, path, now = NB201Space(), tmp_path / "runs.db", [100.0]
    monkeypatch.setattr("pmfnas.storage.time.monotonic", lambda: now[0])
    db = Storage(path, batch_trials=1000, batch_seconds=1.0)
    sid = db.study("s", {})
    with db.lease(sid, "s"):  # the lease's start counts as a commit
        now[0] += 0.5
        db.append(sid, _trial(0), space)
        assert _committed(path) == []
        now[0] += 0.5  # one second after the lease began
        db.append(sid, _trial(1), space)
        assert _committed(path) == [0, 1]
        now[0] += 0.9
        db.append(sid, _trial(2), space)
        assert _committed(path) == [0, 1]
        now[0] += 60.0  # a long training
        db.append(sid, _trial(3), space)
        assert _committed(path) == [0, 1, 2, 3]


def test_outside_a_lease_each_trial_is_committed_at_once(tmp_path):
    space, path = NB201Space(), tmp_path / "runs.db"
    db = Storage(path, batch_trials=1000, batch_seconds=math.inf)
    sid = db.study("s", {})
    db.append(sid, _trial(0), space)
    assert _committed(path) == [0]


def test_reading_a_study_commits_its_open_batch_first(tmp_path):
    space, path = NB201Space(), tmp_path / "runs.db"
    db = Storage(path, batch_trials=1000, batch_seconds=math.inf)
    sid = db.study("s", {})
    with db.lease(sid, "s"):
        db.append(sid, _trial(0), space)
        assert db.trials(sid, space) == [_trial(0)]
        assert _committed(path) == [0]


def _stop(_con):
    raise KeyboardInterrupt


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_commit_cut_by_ctrl_c_is_stored_once_when_the_lease_ends(tmp_path, monkeypatch, when):
    """Ctrl-C inside the commit's transaction (rolled back: the lease's end commits the batch)
    or right after its COMMIT (already stored: not stored twice)."""
    space, path = NB201Space(), tmp_path / "runs.db"
    db = Storage(path, batch_trials=2, batch_seconds=math.inf)
    sid = db.study("s", {})
    write, cuts = db._write, []

    def cut_once(work):
        if cuts:
            return write(work)
        cuts.append(when)
        if when == "before":
            return write(lambda con: (work(con), _stop(con)))
        write(work)
        raise KeyboardInterrupt

    with db.lease(sid, "s"):
        db.append(sid, _trial(0), space)
        monkeypatch.setattr(db, "_write", cut_once)
        with pytest.raises(KeyboardInterrupt):
            db.append(sid, _trial(1), space)  # the batch is full: its commit is cut
        assert cuts == [when] and _committed(path) == ([0, 1] if when == "after" else [])
    assert _committed(path) == [0, 1]


def test_a_run_records_why_it_stopped_and_has_no_reason_while_it_runs(tmp_path):
    path = tmp_path / "runs.db"
    db, other = Storage(path), Storage(path, read_only=True)
    sid = db.study("s", {})
    assert other.stop_reason("s") is None and not other.running("s")
    with db.lease(sid, "s"):
        assert other.running("s")
        db.finish(sid, 100.0, "budget spent")
    assert other.stop_reason("s") == "budget spent" and not other.running("s")
    with pytest.raises(RuntimeError), db.lease(sid, "s"):  # a rerun that fails
        assert other.stop_reason("s") is None
        raise RuntimeError
    assert other.stop_reason("s") is None


STALLING_SEARCH = """
import math, sys, time
from pmfnas import storage
from pmfnas.cli import main
from pmfnas.evaluators.tabular import TabularEvaluator
storage.BATCH_TRIALS, storage.BATCH_SECONDS = {batch}, math.inf
evaluate, calls = TabularEvaluator.evaluate, []
def stalling(self, *args):
    calls.append(1)
    if len(calls) == {stall}:
        print("stalled", flush=True)
        time.sleep(3600)  # killed here, in its {stall}th evaluation
    return evaluate(self, *args)
TabularEvaluator.evaluate = stalling
main(sys.argv[1:])
"""


def _rows(path):
    """Every stored trial, without the wall times at which it ran."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        rows = con.execute(
            "SELECT number, arch, fidelity, state, metrics, cost, clock, curve, reason, info "
            "FROM trials ORDER BY number"
        )
        return rows.fetchall()


def test_a_search_killed_mid_batch_loses_only_that_batch_and_resumes_as_if_never_killed(
    cli, data_env, tmp_path
):
    """kill -9 while a tabular PMF search holds an open batch of 50 trials with 12-epoch
    trainings in it: the committed batches are kept, and the rerun evaluates the lost ones
    again."""
    batch, stall = 50, 1625
    args = ["search", "--benchmark", "nb201", "--budget", "4000"]
    killed, whole = tmp_path / "killed.db", tmp_path / "whole.db"
    child = subprocess.Popen(
        [sys.executable, "-c", STALLING_SEARCH.format(batch=batch, stall=stall), *args,
         "--storage", str(killed)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "stalled" in child.stdout.readline()  # "" if it ended first
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    kept = _rows(killed)

    code, _, err = cli.run(*args, "--storage", killed, "--json", tmp_path / "resumed.json")
    assert code == 0, err
    code, _, err = cli.run(*args, "--storage", whole, "--json", tmp_path / "whole.json")
    assert code == 0, err
    assert _rows(killed) == _rows(whole)
    evaluated = [row[0] for row in _rows(whole) if row[3] != TrialState.REUSED.value]
    told = evaluated[stall - 1]  # trials the killed run had finished and appended
    assert kept == _rows(whole)[: told - told % batch]  # every full batch, nothing else
    lost = _rows(whole)[len(kept) : told]
    assert lost and any(row[2] == "epochs=12" for row in lost) and evaluated[-1] > told

    def summary(name):
        found = json.loads((tmp_path / name).read_text())
        return {k: v for k, v in found.items() if k not in ("strategy_s", "wall_s")}

    assert summary("resumed.json") == summary("whole.json")
