"""``pmfnas search`` with a one-shot method: it runs, resumes, and refuses what does not apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmfnas.storage import Storage

FAST = ["--strategy", "rsps", "--epochs", "2", "-o", "candidates=3"]


def test_a_one_shot_search_runs_stores_its_epochs_and_resumes(cli, tmp_path: Path) -> None:
    storage = tmp_path / "runs.db"
    code, out, err = cli.run("search", *FAST, "--storage", str(storage), "--json", "-")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["strategy"] == "rsps" and summary["n_trials"] == 2
    with Storage(storage) as store:
        _, trials = store.load(store.studies()[0][0])
    assert [str(t.fidelity) for t in trials] == ["supernet=1", "supernet=2"]
    code, out, err = cli.run("search", *FAST, "--storage", str(storage))
    assert code == 0, err
    assert "rsps (one-shot) on digits" in out and summary["arch"] in out
    with Storage(storage) as store:
        assert len(store.load(store.studies()[0][0])[1]) == 2  # resumed, nothing trained twice


def test_a_darts_one_shot_study_reads_back_with_its_genotypes_surrogate_score(
    cli, data_env, nb301_dir, tmp_path: Path
) -> None:
    storage, tiny = tmp_path / "runs.db", ["--channels", "4", "--fraction", "0.25"]
    args = ["search", *FAST, "--space", "darts", *tiny, "--storage", str(storage)]
    code, out, err = cli.run(*args, "--json", "-")
    assert code == 0, err
    score = json.loads(out)["surrogate_val_acc"]  # what the search reported, never its signal
    code, out, err = cli.run("best", "--storage", str(storage), "--json", "-")
    assert code == 0, err
    best = json.loads(out)
    assert best["final_fidelity"] == "epochs=98" and best["final_val_acc"] == score
    assert best["index"] is None and best["test_acc"] is None
    code, _, err = cli.run("report", str(storage), "--out", str(tmp_path / "report"))
    assert code == 0, err
    page = (tmp_path / "report" / "report.html").read_text()
    assert f"<dd>{score:.2f}</dd>" in page and "surrogate predicts validation accuracy" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "gicso", "--benchmark", "nb201"], "trains a supernet"),
        (["--strategy", "gicso", "--budget", "5e14flops"], "spends wall time"),
        (["--strategy", "pmf", "--epochs", "3"], "for one-shot methods"),
        (["--strategy", "gdas", "--profile", "gpu"], "unknown one-shot profile 'gpu'"),
        (["--strategy", "gdas", "-o", "tau=1"], "gdas has no parameter 'tau'"),
    ],
)
def test_what_does_not_apply_to_one_shot_search_is_one_line(cli, args, message) -> None:
    code, _, err = cli.run("search", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
