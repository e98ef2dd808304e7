"""End-to-end ``pmfnas train`` and the embedded default ``pmfnas search`` (no data folder needed)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from clirun import run

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
    code, out, err = run(capsys, "search", "--budget", "30s", "--json", str(out_json))
    assert code == 0, err
    assert "digits (real training)" in out
    summary = json.loads(out_json.read_text())
    assert summary["data"] == "digits" and summary["strategy"] == "pmf"
    assert summary["test_acc"] >= 90
    # PMF's real-training ladder: proxies, a short complete schedule, then 12 epochs.
    assert list(summary["trials"]) == ["proxy:meco,synflow", "epochs=4", "epochs=12"]
    assert summary["fidelity"] == "epochs=12"


def test_default_search_needs_no_data_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PMFNAS_DATA"}
    env["PMFNAS_CACHE"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pmfnas", "search", "--budget", "3s",
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
