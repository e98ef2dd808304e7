"""End-to-end ``pmfnas train`` and the embedded default ``pmfnas search`` (no data folder needed)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.evaluators.training import TrainingEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.network import NB201Network
from pmfnas.spaces.saved import load_network
from pmfnas.training.checkpoint import _read


def test_train_prints_the_curve_and_saves_weights(cli, tmp_path):
    out_json, weights = tmp_path / "train.json", tmp_path / "w.pt"
    code, out, err = cli.run(
        "train", "6111", "--epochs", "2", "--channels", "4", "--json", str(out_json),
        "--save", str(weights), "--checkpoints", str(tmp_path / "ck"),
    )  # fmt: skip
    assert code == 0, err
    assert "valid acc" in out and "test accuracy" in out
    summary = json.loads(out_json.read_text())
    assert summary["index"] == 6111 and summary["data"] == "digits"
    assert [row["epoch"] for row in summary["curve"]] == [1, 2]
    assert summary["fidelity"] == "epochs=2,channels=4"
    state, record = load_network(weights)
    net = NB201Network(NB201Space().arch(6111), channels=4, cells_per_stage=1, input_channels=1)
    net.load_state_dict(state)
    assert (record.arch, record.data, record.channels, record.cells_per_stage) == (
        summary["arch"], "digits", 4, 1,
    )  # fmt: skip
    assert len(list((tmp_path / "ck").glob("*.pt"))) == 1


def test_default_search_trains_on_digits_and_reaches_90_percent(cli, tmp_path):
    out_json = tmp_path / "search.json"
    code, out, err = cli.run(
        "search", "--budget", "6e10flops", "-o", "low_sample=50", "--json", str(out_json)
    )
    assert code == 0, err
    assert "digits (real training)" in out
    trials = [line.split("  ") for line in err.splitlines()]
    # a line per training (the 50 proxy scorings of the cheapest rung only when a new best)
    assert trials and {t[1] for t in trials} == {"epochs=4", "epochs=12"}
    assert "setting: NB201 networks C=8, N=1, batch 64, on 1,081 of 1,081 training" in out
    assert "ladder: proxy:meco,synflow → epochs=4 → epochs=12" in out
    summary = json.loads(out_json.read_text())
    assert summary["data"] == "digits" and summary["strategy"] == "pmf"
    assert summary["test_acc"] >= 90
    # PMF's real-training ladder: proxies, a short complete schedule, then 12 epochs.
    assert list(summary["trials"]) == ["proxy:meco,synflow", "epochs=4", "epochs=12"]
    assert summary["fidelity"] == "epochs=12"
    assert summary["budget_unit"] == "flops" and summary["cost"] <= 6e10
    assert len(trials) == summary["trials"]["epochs=4"] + summary["trials"]["epochs=12"]
    assert summary["stop_reason"] == "budget spent" or summary["stop_reason"].startswith(
        "the remaining "
    )


def _stored_trials(path):
    """What a stored study measured, without when it ran or how many seconds it took."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT arch, fidelity, metrics, cost, clock, info FROM trials"
        ).fetchall()
    return [(*row[:-1], {k: v for k, v in json.loads(row[-1]).items() if k != "seconds"})
            for row in rows]  # fmt: skip


def test_a_compute_budget_gives_the_same_trials_under_any_load(tmp_path, cli):
    """Two searches with one seed and one FLOPs budget, the second while another process keeps
    a core busy: the same trials, costs and clocks, which a wall-clock budget cannot promise."""
    argv = ["search", "--budget", "2e10flops", "-o", "low_sample=20", "--storage"]
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    assert cli.exit_code(*argv, str(first)) == 0
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert cli.exit_code(*argv, str(second)) == 0
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
        ["train", "0", "--seed", "-1"],
        ["train", "0", "--device", "tpu"],
        ["train", "0", "--device", "cuda"],
        ["search", "--device", "cuda:3"],
        ["train", "0", "--resolution", "2"],
        ["train", "0", "--resolution", "6"],
        ["train", "0", "--channels", "20000"],
        ["train", "0", "--save", "nodir/w.pt"],
        ["train", "0", "--json", "nodir/t.json"],
        ["train", "0", "--checkpoints", "afile"],
        ["search", "--checkpoints", "afile"],
        ["search", "--data", "one-class"],
        ["search", "--data", "three-images"],
        ["search", "--data", "twelve-images"],
        ["train", "0", "--data", "one-class"],
        ["train", "0", "--threads", "0"],
        ["search", "--threads", "0"],
        ["proxies", "compute", "--threads", "0"],
        ["search", "-q", "-v"],
        ["search", "--max-failures", "0"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, monkeypatch, tmp_path, argv):
    monkeypatch.chdir(tmp_path)
    _tiny_folders(tmp_path)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # the same with a GPU or not
    code, _, err = cli.run(*argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not list(tmp_path.rglob("*.pt"))  # refused before any training


def _tiny_folders(root: Path) -> None:
    """Image folders too small to search: one class; 3 images; 12 training images (two classes
    of 10, a fifth held out for testing): fewer than a proxy batch. And a file."""
    rng = np.random.default_rng(0)
    for name, classes, images in (
        ("one-class", 1, 20),
        ("three-images", 2, 2),
        ("twelve-images", 2, 10),
    ):
        for c in range(classes):
            (root / name / f"c{c}").mkdir(parents=True)
            for i in range(images - (name == "three-images" and c == 1)):
                np.save(
                    root / name / f"c{c}" / f"{i}.npy", rng.integers(0, 256, (8, 8, 3), np.uint8)
                )
    (root / "afile").write_text("not a folder")


def test_a_search_whose_every_training_fails_stops_and_says_why(cli, monkeypatch, tmp_path):
    """Failed trainings cost nothing under a FLOPs budget: the failures in a row end it."""

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(TrainingEvaluator, "train", out_of_memory)
    storage = tmp_path / "runs.db"
    argv = ["search", "--strategy", "random", "--budget", "1e12flops", "--max-failures", "3"]
    code, _, err = cli.run(*argv, "--storage", str(storage))
    assert code == 2  # after the trial log, one line
    assert err.splitlines()[-1] == (
        "error: no evaluation succeeded: 3 evaluations failed in a row "
        "(the last: RuntimeError: CUDA out of memory (simulated))"
    )
    assert len(_stored_trials(storage)) == 6  # each once retried, and kept


def test_cuda_devices_that_do_not_exist_are_named(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    code, _, err = cli.run("train", "0", "--device", "cuda:1")
    assert code == 2 and err == "error: device 'cuda:1': only cuda:0..cuda:0 exist\n"


def test_an_interrupted_training_says_where_and_a_rerun_resumes(tmp_path, cli):
    ck, out_json = tmp_path / "ck", tmp_path / "train.json"
    args = ["train", "0", "--epochs", "15", "--checkpoints", str(ck), "--json", str(out_json)]
    child = cli.spawn(*args)
    cli.wait_for(lambda: any(ck.glob("*.pt")), child)  # one epoch saved, 14 to go
    _, err = cli.interrupt(child, signal.SIGTERM)
    *epochs, last = err.splitlines()
    assert child.returncode == 130 and all(line.startswith("epoch ") for line in epochs)
    assert last.startswith("interrupted: training stopped in epoch ")
    assert last.endswith(f"of 15; {ck} holds its finished epochs: rerun the same command to resume")
    (checkpoint,) = ck.glob("*.pt")
    saved = _read(checkpoint)["curve"]
    # again as a command of its own: the pytest process may run torch with other threads
    rerun = cli.spawn(*args)
    _, err = cli.finish(rerun)
    assert rerun.returncode == 0, err
    resumed, *epochs = err.splitlines()
    assert (
        resumed == f"resuming from the checkpoint {checkpoint}: epoch {len(saved) + 1} of 15 next"
    )
    assert [line.split()[1] for line in epochs] == [f"{e}/15" for e in range(len(saved) + 1, 16)]
    curve = json.loads(out_json.read_text())["curve"]
    assert [row["epoch"] for row in curve] == list(range(1, 16))
    assert curve[: len(saved)] == saved  # the saved epochs were not trained again


def test_an_interrupted_search_by_training_prints_its_best_and_a_rerun_resumes(
    tmp_path, cli, stored_trials
):
    db, ck = tmp_path / "runs.db", tmp_path / "ck"
    # An hour of one-epoch trainings: the search is stopped long before, by the signal alone.
    args = ["search", "--strategy", "random", "-o", "fidelity=epochs=1", "--budget", "1h"]
    args += ["--storage", str(db), "--checkpoints", str(ck)]
    for more in (3, 2):  # trials awaited: a first run's 3, then 2 beyond those a rerun replays
        kept = stored_trials(db)
        child = cli.spawn(*args)
        cli.wait_for(lambda: len(stored_trials(db)) >= len(kept) + more, child)  # noqa: B023
        out, err = cli.interrupt(child, signal.SIGTERM)
        *logged, last = err.splitlines()
        assert child.returncode == 130 and all(line.startswith(("trial ", "resuming study "))
                                               for line in logged)  # fmt: skip
        assert last.startswith("interrupted: search stopped") and str(db) in last
        assert "(interrupted: the best so far)" in out and "validation accuracy (epochs=1)" in out
        assert stored_trials(db)[: len(kept)] == kept
        trials = int(re.search(r"epochs=1: (\d+)", out).group(1))
        # the replayed trials count as the rerun's own (the last stored one may be unseen)
        assert trials >= len(kept) + more - 1


@pytest.fixture
def one_thread_after():
    """Back to the session's one torch thread after a command that set others in-process."""
    yield
    torch.set_num_threads(1)


def test_a_stored_study_keeps_its_setting_when_extended(cli, tmp_path, one_thread_after):
    """Planned now, the digits would train C=8 networks on one thread; the stored study, made
    with C=4 on two threads, keeps both when a larger budget extends it."""
    out_json = tmp_path / "s.json"
    argv = [
        "search",
        "-o",
        "low_sample=10",
        "-o",
        "budget=1e10",
        "--json",
        str(out_json),
        "--storage",
        str(tmp_path / "runs.db"),
    ]  # fmt: skip  (PMF plans for the final budget)
    code, first, err = cli.run(*argv, "--budget", "5e9flops", "--channels", "4", "--threads", "2")
    assert code == 0, err
    assert "setting: NB201 networks C=4, N=1" in first and "; 2 thread(s) on cpu" in first
    code, extended, err = cli.run(*argv, "--budget", "1e10flops")
    assert code == 0, err
    assert "setting: NB201 networks C=4, N=1" in extended and "; 2 thread(s) on cpu" in extended
    assert err.startswith("resuming study pmf-digits-train-seed0: ")
    assert json.loads(out_json.read_text())["cost"] > 5e9


def test_two_worker_processes_search_and_resume_from_the_journal(cli, tmp_path):
    """``--workers 2``: two worker processes train at once under a FLOPs budget; the trials
    and the journal are stored, and a rerun replays the journal without training again."""
    db, out = tmp_path / "runs.db", tmp_path / "search.json"
    argv = ["search", "--budget", "2e10flops", "-o", "low_sample=20", "--workers", "2"]
    code, text, err = cli.run(*argv, "--storage", db, "--json", out)
    assert code == 0, err
    summary = json.loads(out.read_text())
    assert (summary["workers"], summary["executor"]) == (2, "process")
    assert "2 workers (process)" in text and summary["cost"] <= 2e10
    with sqlite3.connect(db) as con:
        kinds = dict(con.execute("SELECT kind, COUNT(*) FROM journal GROUP BY kind").fetchall())
        running = con.execute("SELECT COUNT(*) FROM running").fetchone()[0]
        trials = con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    assert kinds["submit"] == kinds["arrive"] > 0 and running == 0  # all came back
    code, _, err = cli.run(*argv, "--storage", db, "--json", tmp_path / "again.json")
    assert code == 0, err
    assert f"{trials} stored trials replayed" in err and "trial " not in err.replace("trials", "")
    assert json.loads((tmp_path / "again.json").read_text())["arch"] == summary["arch"]


def _evaluated(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT number, arch, fidelity, state, metrics FROM trials ORDER BY number"
        ).fetchall()
    db.close()
    return rows


def test_a_killed_two_worker_search_resumes_without_losing_or_repeating_a_training(cli, tmp_path):
    """kill -9 the driver of a 2-worker search once it has stored some trainings: the rerun
    keeps every stored trial, trains again only what was in flight, and trains no cell twice."""
    db = tmp_path / "runs.db"
    argv = ["search", "--budget", "3e10flops", "-o", "low_sample=10", "--workers", "2",
            "--storage", db]  # fmt: skip
    child = cli.spawn(*argv)

    def trained(count: int) -> bool:
        return db.exists() and sum(r[2].startswith("epochs") for r in _safe(db)) >= count

    cli.wait_for(lambda: trained(3), child)
    child.send_signal(signal.SIGKILL)
    cli.finish(child)
    before = _evaluated(db)
    code, _, err = cli.run(*argv)
    assert code == 0, err
    after = _evaluated(db)
    assert after[: len(before)] == before  # no finished trial lost
    assert [r[0] for r in after] == list(range(len(after)))
    complete = [(r[1], r[2]) for r in after if r[3] == "complete"]
    assert len(complete) == len(set(complete))  # none trained twice


def _safe(path) -> list[tuple]:
    """The stored trials, or none while the file is being made."""
    try:
        return _evaluated(path)
    except sqlite3.OperationalError:
        return []
