"""``pmfnas bench``: seed parsing, the anytime rule, aggregation, and real runs on the NB201 data."""

import json
import signal
import sqlite3

import numpy as np
import pytest

from pmfnas.cli.options import parse_seeds, parse_strategy_options
from pmfnas.errors import ConfigError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.runs.bench import run_bench
from pmfnas.runs.records import BenchResult, RunRecord
from pmfnas.runs.search import run_search
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import anytime_best
from pmfnas.types import Fidelity, Trial, TrialState

SPACE = NB201Space()
E12, E200 = Fidelity(epochs=12), Fidelity(epochs=200)


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-29", list(range(30))),
        ("0,3,5", [0, 3, 5]),
        ("3", [0, 1, 2]),
        ("2-4, 9", [2, 3, 4, 9]),
        ("7-7", [7]),
    ],
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "1..10000"),
        ("10001", "1..10000"),
        ("0-10000", "more than"),
        ("5-2", "ends before"),
        ("0,3,3", "twice"),
        ("0-3,2", "twice"),
        ("a", "count"),
        ("-1", "count"),
        ("", "count"),
        ("1,", "count"),
        ("²", "count"),
        ("٣", "count"),
        ("0-٣", "count"),
        ("9" * 5000, "out of range"),
        ("4294967296-4294967296", "seed must be an integer"),
        ("1-99999999999", "count"),
    ],
)
def test_parse_seeds_rejects(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_seeds(text)


def test_strategy_options_go_to_their_strategy():
    items = ["rea.population=20", "rea.fidelity=epochs=12", "random.x=1.5"]
    params = parse_strategy_options(items, ["rea", "random"])
    # the values stay text: the strategy reads them as its parameters' types when it is built
    assert params == {"rea": {"population": "20", "fidelity": "epochs=12"}, "random": {"x": "1.5"}}
    for item, message in [
        ("population=20", r"STRATEGY\.KEY"),
        ("x=1.5", r"STRATEGY\.KEY"),
        ("pmf.x=1", "not among"),
        ("rea.=1", r"STRATEGY\.KEY"),
        ("rea.a-b=1", "KEY=VALUE"),
        ("rea.population", r"STRATEGY\.KEY"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_strategy_options([item], ["rea"])


def _trial(number, fidelity, acc, clock, state=TrialState.COMPLETE):
    return Trial(number, SPACE.arch(number), fidelity, state, {"val_acc": acc}, 1.0, clock)


def test_anytime_applies_the_best_rule_to_the_trials_done_by_each_point(ladder):
    trials = [
        _trial(0, E12, 70.0, 5.0),
        _trial(1, E12, 80.0, 10.0),
        _trial(2, E200, 60.0, 30.0),
        _trial(3, E12, 90.0, 40.0),
        _trial(4, E200, 75.0, 60.0),
        _trial(5, E200, 75.0, 60.0, TrialState.REUSED),
        _trial(6, E12, 99.0, 100.0),
    ]
    strategy = create_strategy("random", SPACE, ladder=ladder)
    picks = anytime_best(strategy, trials, [4.0, 10.0, 25.0, 50.0, 100.0])
    # by 4 s nothing has finished; a trial ending exactly at the point counts; once a 200-epoch
    # result exists it outranks every 12-epoch one; a tie goes to the earlier trial
    assert [p and p.number for p in picks] == [None, 1, 1, 2, 4]


def _record(strategy, seed, test, anytime):
    return RunRecord(strategy, seed, test, 0.0, 100.0 * (seed + 1), "", 0, "epochs=12",
                     anytime, 10 * (seed + 1), seed, (np.nan, test))  # fmt: skip


def test_summary_aggregates_over_seeds():
    runs = [
        _record("a", 0, 94.0, {"0.1": None, "0.25": 92.0, "0.5": 93.0, "1.0": 94.0}),
        _record("a", 1, 93.0, {"0.1": 91.0, "0.25": 92.0, "0.5": 92.0, "1.0": 93.0}),
    ]
    result = BenchResult("nb201", "cifar10", 200.0, True, "default", 94.5, {"a": {}}, runs)
    (row,) = result.summary()
    assert row["test_acc"]["mean"] == pytest.approx(93.5)
    assert row["test_acc"]["std"] == pytest.approx(0.5**0.5)  # sample std of 94, 93
    assert row["regret"] == pytest.approx(1.0)
    assert (row["cost"], row["n_trials"], row["reused"]) == pytest.approx((150.0, 15.0, 0.5))
    assert row["anytime"]["0.1"] == {"mean": 91.0, "std": None, "runs": 1}
    assert row["anytime"]["0.25"]["std"] == 0.0
    cost, mean, std = result.curve("a")
    assert cost.tolist()[-1] == 200.0 and mean[-1] == pytest.approx(93.5)
    assert np.isnan(mean[0]) and np.isnan(std[0])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "5-2"], "ends before"),
        (["--seeds", "x"], "--seeds"),
        (["--strategies", "rea,nope"], "unknown strategy"),
        (["--strategies", "rea,rea"], "once"),
        (["-o", "population=3"], "STRATEGY.KEY"),
        (["-o", "rea.colour=blue"], "rea has no parameter 'colour'"),
        (["--workers", "0"], "--workers"),
        (["--dataset", "mnist"], "unknown dataset"),
        (["--benchmark", "nb999"], "unknown benchmark"),
        (["--protocol", "test"], "unknown protocol"),
        (["--budget", "1", "--workers", "1"], "single evaluation"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, data_env, argv, message):
    code, _, err = cli.run("bench", "--seeds", "1", *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_runs_prints_and_writes_json_and_plot(cli, data_env, tmp_path, bench):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "anytime.png"
    code, out, err = cli.run(
        "bench", "--strategies", "rea,random", "--seeds", "0-1", "--budget", "3000",
        "--workers", "1", "-o", "rea.population=5", "-o", "rea.sample_size=3",
        "--json", str(out_json), "--plot", str(out_png),
    )  # fmt: skip
    assert code == 0, err
    assert "rea" in out and "random" in out and "served free" in out
    report = json.loads(out_json.read_text())
    assert (report["dataset"], report["budget"], report["reuse"]) == ("cifar10", 3000.0, True)
    assert report["protocol"] == "default" and "12-epoch validation" in report["protocol_note"]
    assert report["space_best_test_acc"] == pytest.approx(94.37, abs=0.005)  # published optimum
    assert [s["strategy"] for s in report["summary"]] == ["rea", "random"]
    assert report["summary"][0]["params"]["population"] == 5
    assert [(r["strategy"], r["seed"]) for r in report["results"]] == [
        ("rea", 0), ("rea", 1), ("random", 0), ("random", 1)
    ]  # fmt: skip
    for record in report["results"]:
        params = {"population": 5, "sample_size": 3} if record["strategy"] == "rea" else {}
        alone = run_search(bench, strategy=record["strategy"], budget=3000, seed=record["seed"],
                           params=params)  # fmt: skip
        assert (record["arch"], record["test_acc"]) == (alone["arch"], alone["test_acc"])
        assert record["n_trials"] == alone["n_trials"] and record["cost"] <= 3000
        assert SPACE.index(SPACE.parse(record["arch"])) == record["index"]
        assert record["anytime"]["1.0"] == record["test_acc"]
        assert set(record["anytime"]) == {"0.1", "0.25", "0.5", "1.0"}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _count_evaluations(monkeypatch):
    calls = []
    evaluate = TabularEvaluator.evaluate

    def counted(self, arch, fidelity, limit=None):
        calls.append(arch)
        return evaluate(self, arch, fidelity, limit)

    monkeypatch.setattr(TabularEvaluator, "evaluate", counted)
    return calls


def _same(a, b):
    assert [r.to_json() for r in a.runs] == [r.to_json() for r in b.runs]
    np.testing.assert_array_equal([r.curve for r in a.runs], [r.curve for r in b.runs])


def test_rerun_with_the_same_storage_replays_instead_of_evaluating(bench, tmp_path, monkeypatch):
    calls = _count_evaluations(monkeypatch)
    settings = {"strategies": ["rea", "random"], "seeds": [0, 1], "workers": 1}
    db = tmp_path / "runs.db"
    first = run_bench(bench, budget=3000, storage=db, **settings)
    evaluated = len(calls)
    assert evaluated > 0
    again = run_bench(bench, budget=3000, storage=db, **settings)
    assert len(calls) == evaluated  # everything came from the storage file
    _same(first, again)
    names = {name for name, _ in Storage(db).studies()}
    assert names == {f"{s}-cifar10-seed{k}" for s in ("rea", "random") for k in (0, 1)}
    # a smaller budget replays the stored runs, cut where a fresh search would have stopped
    shorter = run_bench(bench, budget=1500, storage=db, **settings)
    assert len(calls) == evaluated
    _same(shorter, run_bench(bench, budget=1500, **settings))


def test_parallel_runs_equal_serial_ones_and_share_a_storage_file(bench, tmp_path):
    settings = {"strategies": ["rea", "random"], "seeds": [0, 1, 2], "budget": 3000}
    serial = run_bench(bench, workers=1, **settings)
    db = tmp_path / "runs.db"
    progress = []
    parallel = run_bench(bench, workers=2, storage=db, progress=lambda *a: progress.append(a),
                         **settings)  # fmt: skip
    _same(serial, parallel)
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)
    with sqlite3.connect(db) as con:
        stored = dict(
            con.execute(
                "SELECT s.name, COUNT(*) FROM trials t JOIN studies s ON s.id = t.study_id "
                "GROUP BY s.name"
            )
        )
    assert stored == {f"{r.strategy}-cifar10-seed{r.seed}": r.n_trials for r in parallel.runs}
    _same(serial, run_bench(bench, workers=2, storage=db, **settings))


def test_an_interrupted_bench_keeps_no_partial_run_and_a_rerun_completes_it(
    bench, tmp_path, monkeypatch
):
    settings = {"strategies": ["rea"], "seeds": [0, 1], "budget": 3000, "workers": 1}
    db = tmp_path / "runs.db"
    calls = []
    evaluate = TabularEvaluator.evaluate

    def interrupted(self, arch, fidelity, limit=None):
        calls.append(arch)
        if len(calls) == 20:  # inside the first run
            raise KeyboardInterrupt
        return evaluate(self, arch, fidelity, limit)

    monkeypatch.setattr(TabularEvaluator, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):  # not a record of the partial run
        run_bench(bench, storage=db, **settings)
    assert len(Storage(db).trials(1, SPACE)) == 19
    monkeypatch.setattr(TabularEvaluator, "evaluate", evaluate)
    _same(run_bench(bench, storage=db, **settings), run_bench(bench, **settings))


def test_an_interrupted_bench_stops_its_workers_and_a_rerun_replays(
    cli, data_env, tmp_path, stored_trials
):
    db = tmp_path / "runs.db"
    args = ["bench", "--strategies", "rea", "--seeds", "0-15", "--budget", "20000"]
    args += ["--workers", "2", "--storage", str(db)]
    child = cli.spawn(*args)
    cli.wait_for(lambda: len(stored_trials(db)) >= 1, child)  # the first of 16 runs has begun
    _, err = cli.interrupt(child, signal.SIGINT)
    assert child.returncode == 130 and err.count("\n") == 1
    assert err.startswith("interrupted: bench stopped after ")
    assert err.endswith(f"rerun the same command to replay them from {db} and continue\n")
    kept = stored_trials(db)
    code, _, err = cli.run(*args, "--json", str(tmp_path / "bench.json"))
    assert code == 0, err
    assert set(kept) <= set(stored_trials(db))  # the stored trials were replayed, not redone
    assert len(json.loads((tmp_path / "bench.json").read_text())["results"]) == 16


def test_peers_protocol_runs_the_searches_of_search_protocol_peers(cli, data_env, tmp_path, bench):
    """``--protocol peers``: each run is ``pmfnas search --protocol peers`` (12-epoch test signal),
    stored as its own study next to the default protocol's."""
    db, out_json = tmp_path / "runs.db", tmp_path / "bench.json"
    args = ["bench", "--strategies", "random", "--seeds", "0-1", "--budget", "3000"]
    args += ["--workers", "1", "--storage", str(db)]
    code, out, err = cli.run(*args, "--protocol", "peers", "--json", str(out_json))
    assert code == 0, err
    assert "12-epoch test" in out.replace("\n", " ")
    report = json.loads(out_json.read_text())
    assert report["protocol"] == "peers" and "12-epoch test" in report["protocol_note"]
    for record in report["results"]:
        alone = run_search(bench, strategy="random", budget=3000, seed=record["seed"],
                           protocol="peers")  # fmt: skip
        assert (record["arch"], record["val_acc"]) == (alone["arch"], alone["val_acc"])
        assert record["val_acc"] == bench.value("test_acc_12", "cifar10", record["index"])
    assert cli.run(*args)[0] == 0  # the default protocol beside it in the same file
    names = {name for name, _ in Storage(db).studies()}
    assert names == {f"random-cifar10-seed{k}{p}" for k in (0, 1) for p in ("", "-peers")}
