"""``pmfnas studies``, ``pmfnas trials`` and ``pmfnas best`` on a file of small tabular searches:
what they print is what the searches' own summaries and the stored rows say."""

import csv
import io
import json
import math

import pytest

from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.runs.stored import TRIAL_COLUMNS, rounded
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import JournalEvent, Storage

SEARCHES = {  # study → its search's options; mfnas returns by its own rule, not the default one
    "pmf-cifar10-seed0": ["--strategy", "pmf", "--budget", "4000"],
    "mfnas-cifar10-seed0": ["--strategy", "mfnas"],
}


@pytest.fixture(scope="module")
def searched(tmp_path_factory, data_dir):
    """A storage file with two finished studies and an interrupted one, and the summaries their
    searches printed."""
    folder = tmp_path_factory.mktemp("studies")
    db, summaries = folder / "runs.db", {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PMFNAS_DATA", str(data_dir))
        patch.setenv("PMFNAS_CACHE", str(folder / "cache"))
        for name, options in SEARCHES.items():
            summary = _search(folder, name, "--storage", db, *options)
            summaries[name] = summary
        evaluate, calls = TabularEvaluator.evaluate, []

        def interrupted(self, *args):  # Ctrl-C during the 30th evaluation
            calls.append(1)
            if len(calls) == 30:
                raise KeyboardInterrupt
            return evaluate(self, *args)

        patch.setattr(TabularEvaluator, "evaluate", interrupted)
        summaries["rea-cifar10-seed0"] = _search(
            folder, "rea", "--storage", db, "--strategy", "rea", code=130
        )
    return db, summaries


def _search(folder, name, *argv, code=0):
    from pmfnas.cli import main

    path = folder / f"{name}.json"
    with pytest.raises(SystemExit) as done:
        main(["search", "--benchmark", "nb201", *map(str, argv), "--json", str(path)])
    assert done.value.code == code
    return json.loads(path.read_text())


def _approx(value):
    """``value`` as rounded in the exports (None stays None)."""
    return None if value is None else pytest.approx(value, rel=1e-5)


def _json(cli, *argv):
    code, out, err = cli.run(*argv, "--json", "-")
    assert code == 0, err
    return json.loads(out)


def test_studies_lists_each_study_with_the_architecture_its_search_returned(cli, searched):
    db, summaries = searched
    rows = {row["study"]: row for row in _json(cli, "studies", "--storage", db)}
    assert list(rows) == list(summaries)  # oldest first
    for name, summary in summaries.items():
        row = rows[name]
        assert row["strategy"] == summary["strategy"] and row["space"] == "nb201"
        assert (row["benchmark"], row["data"]) == ("nb201", "cifar10")
        assert row["trials"] == summary["n_trials"]
        assert row["arch"] == summary["arch"] and row["fidelity"] == summary["fidelity"]
        assert row["val_acc"] == _approx(summary["val_acc"])
    assert [row["state"] for row in rows.values()] == ["finished", "finished", "interrupted"]
    assert rows["rea-cifar10-seed0"]["stop_reason"] == "interrupted"
    assert rows["pmf-cifar10-seed0"]["stop_reason"] == summaries["pmf-cifar10-seed0"]["stop_reason"]
    code, table, _ = cli.run("studies", "--storage", db)
    [header, *lines] = table.splitlines()
    assert code == 0 and header.split()[:2] == ["study", "strategy"] and len(lines) == 3
    for line, (name, summary) in zip(lines, summaries.items(), strict=True):
        assert line.startswith(name) and line.endswith(summary["arch"])  # never cut
        assert rows[name]["state"] in line.split()


def test_a_study_being_run_is_listed_as_running(cli, tmp_path):
    path = tmp_path / "held.db"
    holder = Storage(path)
    sid = holder.study("held", {"strategy": "random"})
    with holder.lease(sid, "held"):
        [row] = _json(cli, "studies", "--storage", path)
        assert (row["state"], row["trials"], row["arch"]) == ("running", 0, None)
    [row] = _json(cli, "studies", "--storage", path)
    assert row["state"] == "interrupted"  # its run ended without saying why it stopped


def test_evaluations_in_flight_are_listed_running_then_interrupted(cli, tmp_path):
    path, arch = (
        tmp_path / "held.db",
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|",
    )
    holder = Storage(path)
    sid = holder.study("held", {"strategy": "random", "space": "nb201"})
    with holder.lease(sid, "held"):
        holder.record(sid, JournalEvent(0, "submit", 0, 0.0, arch, "epochs=200"))
        holder.beat(sid, {0: 1.8e9})
        holder.commit()
        [row] = _json(cli, "studies", "--storage", path)
        assert (row["trials"], row["in_flight"]) == (0, 1)
        code, table, _ = cli.run("studies", "--storage", path)
        assert code == 0 and "0 + 1 in flight" in table
        [record] = _json_trials(cli, path)
        assert (record["state"], record["arch"], record["fidelity"]) == (
            "running",
            arch,
            "epochs=200",
        )
        assert record["number"] is None and record["index"] == NB201Space().index(
            NB201Space().parse(arch)
        )
        assert record["info"] == {"ticket": 0, "heartbeat": "2027-01-15T08:00:00.000+00:00"}
    [record] = _json_trials(cli, path)  # the run was killed: a rerun evaluates it again
    assert record["state"] == "interrupted"
    code, text, err = cli.run("trials", "--storage", path)
    [header, row] = list(csv.reader(io.StringIO(text)))
    assert code == 0, err
    assert dict(zip(header, row, strict=True))["state"] == "interrupted"


def _json_trials(cli, path):
    code, text, err = cli.run("trials", "--storage", path, "--format", "json")
    assert code == 0, err
    return json.loads(text)


@pytest.mark.parametrize("name", SEARCHES)
def test_best_prints_the_architecture_the_search_returned(cli, searched, name):
    db, summaries = searched
    summary = summaries[name]
    best = _json(cli, "best", "--storage", db, "--study", name)
    assert best["arch"] == summary["arch"] and best["index"] == summary["index"]
    assert best["fidelity"] == summary["fidelity"]
    assert best["val_acc"] == _approx(summary["val_acc"])  # None: MFNAS returns by proxies
    assert best["test_acc"] == _approx(summary["test_acc"])
    code, text, _ = cli.run("best", "--storage", db, "--study", name)
    assert code == 0 and summary["arch"] in text and f"{summary['test_acc']:.2f}" in text


def test_trials_exports_every_stored_trial_as_csv_or_json(cli, searched, tmp_path):
    db, summaries = searched
    name = "pmf-cifar10-seed0"
    with Storage(db, read_only=True) as storage:
        _, stored = storage.load(name, NB201Space())
    code, text, err = cli.run("trials", "--storage", db, "--study", name)  # CSV on stdout
    assert code == 0, err
    [header, *rows] = list(csv.reader(io.StringIO(text)))
    assert tuple(header[: len(TRIAL_COLUMNS)]) == TRIAL_COLUMNS
    assert {"metrics.val_acc", "metrics.meco", "metrics.synflow"} <= set(header)
    assert len(rows) == len(stored) == summaries[name]["n_trials"]
    out = tmp_path / "trials.json"
    code, _, err = cli.run(
        "trials", "--storage", db, "--study", name, "--format", "json", "--out", out
    )
    assert code == 0, err
    records = json.loads(out.read_text())
    for row, record, trial in zip(rows, records, stored, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert int(cells["number"]) == record["number"] == trial.number
        assert cells["arch"] == record["arch"] == NB201Space().format(trial.arch)
        assert record["fidelity"] == str(trial.fidelity) and record["state"] == trial.state.value
        for key, value in trial.metrics.items():
            assert record["metrics"][key] == pytest.approx(value, rel=1e-5)
            assert float(cells[f"metrics.{key}"]) == record["metrics"][key]
        assert record["clock"] == pytest.approx(trial.clock, rel=1e-5)


def test_rounded_keeps_six_significant_digits_and_makes_json_of_what_is_not_a_number():
    assert rounded({"a": [93.76123456, 2.0e10 / 3], "b": 7, "c": True, "d": "x"}) == {
        "a": [93.7612, 6.66667e9], "b": 7, "c": True, "d": "x"
    }  # fmt: skip
    assert rounded([math.nan, math.inf, 1e-9 / 3]) == [None, None, 3.33333e-10]


def test_without_study_the_only_study_is_used_and_several_need_a_name(cli, searched, tmp_path):
    db, summaries = searched
    code, _, err = cli.run("best", "--storage", db)
    assert code == 2 and err.count("\n") == 1
    assert "holds 3 studies; choose one with --study: pmf-cifar10-seed0, mfnas" in err
    one = tmp_path / "one.db"
    with Storage(db, read_only=True) as source, Storage(one) as target:
        config, trials = source.load("pmf-cifar10-seed0", NB201Space())
        sid = target.study("only", config)
        for trial in trials:
            target.append(sid, trial, NB201Space())
    assert _json(cli, "best", "--storage", one)["arch"] == summaries["pmf-cifar10-seed0"]["arch"]


@pytest.mark.parametrize("command", ["studies", "trials", "best"])
def test_a_file_that_is_no_storage_is_one_clear_line(cli, tmp_path, command):
    (tmp_path / "x.txt").write_text("not a database")
    code, _, err = cli.run(command, "--storage", tmp_path / "x.txt")
    assert code == 2 and err == f"error: {tmp_path / 'x.txt'} is not a SQLite file\n"
    code, _, err = cli.run(command, "--storage", tmp_path / "none.db")
    assert code == 2 and err == f"error: no storage file {tmp_path / 'none.db'}\n"
