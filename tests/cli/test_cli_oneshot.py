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
