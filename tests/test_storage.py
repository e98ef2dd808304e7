import sqlite3

import pytest

from pmfnas.errors import StorageError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import SCHEMA_VERSION, Storage
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


def test_uses_wal(tmp_path):
    Storage(tmp_path / "runs.db").close()
    con = sqlite3.connect(tmp_path / "runs.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_config_mismatch_is_refused(tmp_path):
    db = Storage(tmp_path / "runs.db")
    db.study("s", {"a": 1})
    with pytest.raises(StorageError):
        db.study("s", {"a": 2})


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


def test_not_a_database(tmp_path):
    path = tmp_path / "runs.db"
    path.write_text("this is not sqlite, " * 100)
    with pytest.raises(StorageError):
        Storage(path)
