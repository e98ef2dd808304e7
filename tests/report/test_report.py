"""``pmfnas report`` and ``pmfnas bench --report``: reasons, funnel, read-only storage, and pages
generated from small real searches (tabular and real training), checked figure by figure."""

import base64
import dataclasses
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmfnas.errors import StorageError
from pmfnas.report.figures import pareto_front
from pmfnas.report.funnel import decisions, funnel
from pmfnas.report.html import Section, Table, cell, render
from pmfnas.report.reasons import category, notes, prediction
from pmfnas.report.study_data import returned_after_each
from pmfnas.report.study_report import write_study_report
from pmfnas.runs.profiles import real_data_evaluator, training_evaluator, training_recipe
from pmfnas.runs.search import run_search, run_training_search
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import STRATEGIES, create_strategy
from pmfnas.study import Study
from pmfnas.types import ORIGINS, Fidelity, Trial, TrialState

SPACE = NB201Space()
PROXY, E12, E200 = Fidelity(proxies=("zen",)), Fidelity(epochs=12), Fidelity(epochs=200)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STUDY_FIGURES = {"anytime.png", "funnel.png", "pareto.png", "cell.png"}


def _trial(number, arch, fidelity, reason, acc=None, info=None):
    metrics = {"zen": 1.0} if fidelity.is_proxy else {"val_acc": acc}
    return Trial(
        number, SPACE.arch(arch), fidelity, TrialState.COMPLETE, metrics, 1.0, number + 1.0,
        reason=reason, info=info or {},
    )  # fmt: skip


def check_report(out: Path, figures: set[str], rows: int | None = None) -> str:
    """Every figure is a real PNG file embedded once in the page; no network; one table row per
    trial in the last table. Returns the page."""
    html = (out / "report.html").read_text(encoding="utf-8")
    assert {p.name for p in out.glob("*.png")} == figures
    for name in figures:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 5000, name
        with Image.open(out / name) as image:
            assert min(image.size) > 200, name
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert sorted(base64.b64decode(u) for u in uris) == sorted(
        (out / name).read_bytes() for name in figures
    )
    text = re.sub(r"base64,[^\"]+", "base64,", html)  # a payload may spell "http" by chance
    assert "http" not in text.lower()
    assert "<link" not in text and "<script src" not in text
    if rows is not None:
        body = html.rsplit('<table class="sortable">', 1)[1].split("<tbody>")[1]
        assert body.split("</tbody>")[0].count("<tr>") == rows
    return html


# ---------------------------------------------------------------- reasons and funnel


@pytest.mark.parametrize("name", sorted(STRATEGIES.names()))
def test_every_strategy_says_why_each_trial_ran_in_a_few_categories(name, ladder, toy_evaluator):
    """Each request names its origin in its info; the report groups by it, never by wording."""
    toy = toy_evaluator()
    strategy = create_strategy(name, SPACE, seed=0, ladder=ladder)
    trials = Study(SPACE, toy, strategy, 2000.0).run().trials
    assert trials and {category(t) for t in trials} <= set(ORIGINS)
    assert category(_trial(0, 1, E12, "stage 2: region 3, UCB 87.39 (87.01 ± 0.76)", 80)) == (
        "unstated"  # a reason alone is words for people, not data
    )


def test_notes_and_predictions_are_read_from_the_trials_info():
    stopped = {"origin": "regional search", "decisions": ["stop region 2: why", "3 unpromoted"]}
    assert notes(_trial(0, 1, E12, "stage 2: region 1", 80, stopped)) == [
        "stop region 2: why",
        "3 unpromoted",
    ]
    info = {"predicted": 91.52, "predicted_std": 1.26, "predicted_by": "promotion predictor"}
    high = prediction(_trial(1, 2, E200, "stage 3 promotion (x): predicted 91.52 ± 1.26", 91, info))
    assert (high.source, high.mean, high.std) == ("promotion predictor", 91.52, 1.26)
    stored = prediction(_trial(2, 3, E12, "mutation", 80, {"predicted": 70, "predicted_std": 2}))
    assert (stored.source, stored.mean, stored.std) == ("stored prediction", 70.0, 2.0)
    assert prediction(_trial(3, 4, E12, "stage 3 promotion: predicted 91.52 ± 1.26", 80)) is None
    assert notes(_trial(4, 5, E12, "stage 2: x; stop region 1: y", 80)) == []


def test_funnel_counts_candidates_promotions_and_reasons():
    new, up = {"origin": "sampled"}, {"origin": "promoted"}
    stop = {**new, "decisions": ["stop region 4: every cell evaluated"]}
    trials = [
        _trial(0, 10, PROXY, "bracket 0: new at rung 0", info=new),
        _trial(1, 11, PROXY, "bracket 0: new at rung 0", info=new),
        _trial(2, 12, PROXY, "bracket 0: new at rung 0", info=new),
        _trial(3, 10, E12, "bracket 0: promoted, rank 1 of 3 at proxy:zen", 80.0, up),
        _trial(4, 11, E12, "bracket 0: promoted, rank 2 of 3 at proxy:zen", 70.0, up),
        _trial(5, 10, E200, "bracket 0: promoted, rank 1 of 2 at epochs=12", 90.0, up),
        _trial(
            6, 13, E200, "bracket 1: new at rung 2; stop region 4: every cell evaluated", 85, stop
        ),
        _trial(7, 10, E200, "bracket 1: repeat", 90.0),
    ]
    low, mid, high = funnel(trials)
    assert (low.fidelity, low.trials, low.candidates, low.promoted, low.stopped) == (
        PROXY, 3, 3, 2, 1,
    )  # fmt: skip
    assert low.categories == {"sampled": 3}
    assert (mid.candidates, mid.promoted, mid.categories) == (2, 1, {"promoted": 2})
    assert (high.trials, high.candidates, high.promoted) == (3, 2, 0)
    assert high.categories == {"promoted": 1, "sampled": 1}  # by each candidate's first trial
    assert decisions(trials) == [(6, "stop region 4: every cell evaluated")]


def test_pareto_front_keeps_the_points_nothing_beats_on_both_counts():
    size = [1.0, 2.0, 2.0, 3.0, 0.5, 4.0]
    acc = [80.0, 85.0, 90.0, 88.0, 70.0, 95.0]
    assert pareto_front(size, acc) == [4, 0, 2, 5]


def test_returned_architecture_replays_a_strategy_with_its_own_rule():
    config = {"strategy": "mfnas", "seed": 3, "params": {"proxies": "zen,params", "steps": 3,
              "population": 6, "sample_size": 3, "mutations": 1}}  # fmt: skip
    strategy = create_strategy("mfnas", SPACE, seed=3, **config["params"])
    rng = np.random.default_rng(0)
    trials = []
    while (request := strategy.ask()) is not None:
        metrics = {"zen": float(rng.random()), "params": float(rng.random())}
        n = len(trials)
        trial = Trial(n, request.arch, request.fidelity, TrialState.COMPLETE, metrics, 1.0, n + 1.0,
                      reason=request.reason)  # fmt: skip
        strategy.tell(trial)
        trials.append(trial)
    returned = returned_after_each(config, SPACE, trials)
    assert returned[-1] == strategy.best(trials) is not None
    assert returned[2] == strategy.best(trials[:3])  # before the population is complete
    # A history the strategy would not ask again falls back to the default rule (none here:
    # proxy scores are no validation evidence).
    assert returned_after_each(config, SPACE, trials[::-1]) == [None] * len(trials)


# ---------------------------------------------------------------- page and storage


def test_page_escapes_values_and_sorts_numbers_as_numbers():
    assert cell(None) == ("n/a", "-Infinity", True)
    assert cell(3) == ("3", "3", True)
    assert cell(91.234) == ("91.23", "91.234", True)
    assert cell(91.234, 0) == ("91", "91.234", True)
    assert cell("a<b") == ("a<b", "a<b", False)
    table = Table(["name", "acc"], [["<script>x</script>", 1.5]])
    html = render("t & t", {"k": "<v>"}, [Section("s", note="<n>", table=table)])
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "t &amp; t" in html and "&lt;v&gt;" in html and "&lt;n&gt;" in html
    assert 'data-sort="1.5">1.50</td>' in html


def test_storage_reads_a_study_without_its_config_and_never_writes(tmp_path):
    path = tmp_path / "runs.db"
    db = Storage(path)
    sid = db.study("s", {"a": 1})
    trial = _trial(0, 5, E12, "initial population", 80.0)
    db.append(sid, trial, SPACE)
    db.study("t", {"b": 2})
    db.close()
    reader = Storage(path, read_only=True)
    assert reader.studies() == [("s", {"a": 1}), ("t", {"b": 2})]
    assert reader.load("s", SPACE) == ({"a": 1}, [trial])
    with pytest.raises(StorageError, match="studies: s, t"):
        reader.load("u", SPACE)
    with pytest.raises(StorageError, match="is read-only"):  # read-only for real
        reader.study("u", {})
    reader.close()
    with pytest.raises(StorageError, match="no storage file"):
        Storage(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (None, "no storage file"),
        ("sqlite", "not a pmfnas storage file"),
        ("text", "runs.db is not a SQLite file"),
        ("empty", "holds no studies"),
    ],
)
def test_report_errors_are_one_line_exit_2(cli, tmp_path, make, message):
    path = tmp_path / "runs.db"
    if make == "sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE foo (x)")
        con.commit()
        con.close()
    elif make == "text":
        path.write_text("this is not sqlite, " * 100)
    elif make == "empty":
        Storage(path).close()
    code, _, err = cli.run("report", path, "--out", tmp_path / "out")
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    if make == "sqlite":  # the foreign file is left as it was
        con = sqlite3.connect(path)
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["foo"]
        con.close()


# ---------------------------------------------------------------- real searches


@pytest.fixture(scope="module")
def rea(bench, tmp_path_factory):
    """One REA search on the tabular benchmark: (storage file, its summary)."""
    path = tmp_path_factory.mktemp("rea") / "runs.db"
    return path, run_search(bench, strategy="rea", budget=20000, storage=path)


def test_report_of_a_tabular_search(cli, rea, data_dir, tmp_path):
    path, summary = rea
    out = tmp_path / "report"
    code, stdout, _ = cli.run("report", path, "--out", out, "--data-dir", data_dir)
    assert code == 0 and "report.html" in stdout
    html = check_report(out, STUDY_FIGURES, rows=summary["n_trials"])
    assert f"{summary['arch']} (index {summary['index']}" in html  # the returned one
    assert f"<dd>{summary['test_acc']:.2f}</dd>" in html
    assert "Omitted: this strategy stored no predictions" in html
    assert "NB201 test accuracy after 200 epochs on cifar10" in html


def test_report_takes_the_file_as_storage_option_too_but_only_one(cli, rea, data_dir, tmp_path):
    path, _ = rea
    named = cli.run("report", "--storage", path, "--out", tmp_path / "a", "--data-dir", data_dir)
    assert named[0] == 0 and (tmp_path / "a" / "report.html").exists()
    both = cli.run("report", path, "--storage", path, "--out", tmp_path / "b")
    assert both[0] == 0  # the same file twice is one file
    for args, message in [
        ((), "name the storage file to report"),
        ((path, "--storage", tmp_path / "other.db"), "two storage files given"),
    ]:
        code, _, err = cli.run("report", *args, "--out", tmp_path / "c")
        assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "c").exists()


def test_report_without_benchmark_data_says_test_accuracy_is_na(rea, tmp_path):
    path, summary = rea
    out = tmp_path / "report"
    write_study_report(path, out, source=tmp_path / "no-data")
    html = check_report(out, STUDY_FIGURES, rows=summary["n_trials"])
    assert "Test accuracy n/a" in html


def test_reports_of_multi_fidelity_searches_and_predictions(cli, bench, rea, data_dir, tmp_path):
    path = tmp_path / "runs.db"
    sh = run_search(
        bench, strategy="sh", params={"rungs": "proxy:zen;epochs=12;epochs=200"}, storage=path
    )
    mfnas = run_search(
        bench, strategy="mfnas", params={"proxies": "zen,params", "steps": 5}, storage=path
    )
    # The REA trials again, each with the prediction a predictor might have stored in its info.
    reader = Storage(rea[0], read_only=True)
    config, trials = reader.load("rea-cifar10-seed0", SPACE)
    reader.close()
    db = Storage(path)
    sid = db.study("predicted", config)
    for t in trials:
        info = {"predicted": t.val_acc + 1.0, "predicted_std": 0.5}
        db.append(sid, dataclasses.replace(t, info=info), SPACE)
    db.close()

    code, _, err = cli.run("report", path, "--out", tmp_path / "x")
    assert code == 2 and "--study" in err
    assert "sh-cifar10-seed0, mfnas-cifar10-seed0, predicted" in err
    code, _, err = cli.run("report", path, "--study", "nope", "--out", tmp_path / "x")
    assert code == 2 and "no study 'nope'" in err

    for name, summary in (("sh-cifar10-seed0", sh), ("mfnas-cifar10-seed0", mfnas)):
        out = tmp_path / name
        args = ("report", path, "--study", name, "--out", out, "--data-dir", data_dir)
        assert cli.run(*args)[0] == 0
        html = check_report(out, STUDY_FIGURES, rows=summary["n_trials"])
        assert f"{summary['arch']} (index {summary['index']}" in html
    assert "promoted onwards" in html
    out = tmp_path / "predicted"
    args = ("report", path, "--study", "predicted", "--out", out, "--data-dir", data_dir)
    assert cli.run(*args)[0] == 0
    html = check_report(out, STUDY_FIGURES | {"predictions.png"}, rows=len(trials))
    # Rewriting into the same folder without predictions drops the stale figure.
    write_study_report(rea[0], out, source=data_dir / "nb201")
    check_report(out, STUDY_FIGURES)


def test_report_of_a_pmf_search_shows_its_predictions(bench, data_dir, tmp_path):
    path = tmp_path / "runs.db"
    run_search(bench, strategy="pmf", params={"low": "proxy:zen,params"}, storage=path)
    out = tmp_path / "report"
    write_study_report(path, out, source=data_dir / "nb201")
    html = check_report(out, STUDY_FIGURES | {"predictions.png"})
    assert "regional search" in html and "promoted onwards" in html


def test_report_of_a_real_training_search(cli, tmp_path):
    path = tmp_path / "runs.db"
    recipe = training_recipe("digits", channels=4)
    training = training_evaluator("digits", recipe=recipe, budget_unit="flops")
    summary = run_training_search(
        real_data_evaluator(training),
        strategy="rea",
        budget=1e10,
        params={"fidelity": "epochs=1"},
        storage=path,
    )
    out = tmp_path / "report"
    assert cli.run("report", path, "--out", out)[0] == 0  # the only study, by default
    html = check_report(out, STUDY_FIGURES, rows=summary["n_trials"])
    assert f"<dd>{summary['test_acc']:.2f}</dd>" in html
    assert "C=4, N=1), 10 classes, 8x8x1 inputs" in html
    assert "compute (FLOPs)" in html


def test_bench_report_compares_the_strategies(cli, data_dir, cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PMFNAS_CACHE", str(cache_dir))
    out = tmp_path / "bench"
    code, stdout, _ = cli.run(
        "bench", "--strategies", "rea,sh", "--seeds", "3-4", "--workers", "1",
        "-o", "sh.rungs=proxy:zen;epochs=12;epochs=200", "--data-dir", data_dir, "--report", out,
    )  # fmt: skip
    assert code == 0 and "report.html" in stdout
    html = check_report(out, {"anytime.png", "funnel-rea.png", "funnel-sh.png"})
    tables = html.split('<table class="sortable">')[1:]
    assert [t.split("</tbody>")[0].count("<tr>") for t in tables[:2]] == [1 + 2, 1 + 4]
    assert "Fidelity funnel: rea, seed 3" in html and "Fidelity funnel: sh, seed 3" in html


def test_a_one_shot_study_reports_its_epochs_and_the_tables_score_its_cells(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmfnas.runs.oneshot import run_oneshot_search

    monkeypatch.setenv("PMFNAS_DATA", str(data_dir))
    storage = tmp_path / "oneshot.db"
    summary = run_oneshot_search(
        "rsps", data="digits", epochs=2, params={"candidates": 3}, storage=storage
    )
    html = check_report(
        write_study_report(storage, tmp_path / "out").parent, {"anytime.png", "cell.png"}, rows=2
    )
    assert "no candidate is promoted" in html
    assert "NB201 test accuracy after 200 epochs on cifar10" in html
    cifar10 = summary["table_test_acc"]["cifar10"]
    assert f"{cifar10:.2f}" in html  # the returned cell's looked-up accuracy
