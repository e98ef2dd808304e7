"""End-to-end ``pmfnas train`` and the embedded default ``pmfnas search`` (no data folder needed)."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import torch
from clirun import exit_code, run

from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.networks import build_network


def test_train_prints_the_curve_and_saves_weights(capsys, tmp_path):
    out_json, weights = tmp_path / "train.json", tmp_path / "w.pt"
    code, out, err = run(
        capsys, "train", "6111", "--epochs", "2", "--channels", "4", "--json", str(out_json),
        "--save", str(weights), "--checkpoint", str(tmp_path / "ck"),
    )  # fmt: skip
    assert code == 0, err
    assert "valid acc" in out and "test accuracy" in out
    summary = json.loads(out_json.read_text())
    assert summary["index"] == 6111 and summary["data"] == "digits"
    assert [row["epoch"] for row in summary["curve"]] == [1, 2]
    assert summary["fidelity"] == "epochs=2,channels=4"
    net = build_network(NB201Space().arch(6111), channels=4, cells_per_stage=1, input_channels=1)
    net.load_state_dict(torch.load(weights, weights_only=True))
    assert len(list((tmp_path / "ck").glob("*.pt"))) == 1


def test_default_search_trains_on_digits_and_reaches_90_percent(capsys, tmp_path):
    out_json = tmp_path / "search.json"
    code, out, err = run(
        capsys, "search", "--budget", "6e10flops", "-o", "low_sample=50", "--json", str(out_json)
    )
    assert code == 0, err
    assert "digits (real training)" in out
    assert "setting: NB201 networks C=8, N=1, batch 64, on 1,081 of 1,081 training" in out
    assert "ladder: proxy:meco,synflow → epochs=4 → epochs=12" in out
    summary = json.loads(out_json.read_text())
    assert summary["data"] == "digits" and summary["strategy"] == "pmf"
    assert summary["test_acc"] >= 90
    # PMF's real-training ladder: proxies, a short complete schedule, then 12 epochs.
    assert list(summary["trials"]) == ["proxy:meco,synflow", "epochs=4", "epochs=12"]
    assert summary["fidelity"] == "epochs=12"
    assert summary["budget_unit"] == "flops" and summary["cost"] <= 6e10


def _stored_trials(path):
    """What a stored study measured, without when it ran or how many seconds it took."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT arch, fidelity, metrics, cost, clock, info FROM trials"
        ).fetchall()
    return [(*row[:-1], {k: v for k, v in json.loads(row[-1]).items() if k != "seconds"})
            for row in rows]  # fmt: skip


def test_a_compute_budget_gives_the_same_trials_under_any_load(tmp_path):
    """Two searches with one seed and one FLOPs budget, the second while another process keeps
    a core busy: the same trials, costs and clocks, which a wall-clock budget cannot promise."""
    argv = ["search", "--budget", "2e10flops", "-o", "low_sample=20", "--storage"]
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    assert exit_code(*argv, str(first)) == 0
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert exit_code(*argv, str(second)) == 0
    finally:
        hog.kill()
    trials = _stored_trials(first)
    assert len(trials) > 20 and trials == _stored_trials(second)


def test_default_search_needs_no_data_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PMFNAS_DATA"}
    env["PMFNAS_CACHE"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pmfnas", "search", "--budget", "1e10flops", "-o", "low_sample=10",
         "-o", "medium=epochs=1,fraction=0.5", "-o", "high=epochs=2"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "best architecture" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--data", "digits", "--benchmark", "nb201"],
        ["search", "--data", "nosuch"],
        ["search", "--split", "bogus"],
        ["search", "--budget", "0"],
        ["train", "6111", "--epochs", "0"],
        ["train", "6111", "--fraction", "1.5"],
        ["train", "|bad|", "--epochs", "1"],
        ["train", "6111", "--data", "digits", "--split", "full"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
