"""End-to-end tests of the ``pmfnas`` command on the shared NB201 data, error paths included."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.units import format_amount

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_search_prints_summary_and_writes_json(cli, data_env, tmp_path):
    out_json = tmp_path / "out.json"
    code, out, err = cli.run(
        "search",
        "--dataset",
        "cifar10",
        "--strategy",
        "rea",
        "--budget",
        "20000",
        "--seed",
        "0",
        "--json",
        str(out_json),
    )
    assert code == 0, err
    summary = json.loads(out_json.read_text())
    assert {"arch", "index", "val_acc", "test_acc", "cost", "trials"} <= set(summary)
    assert NB201Space().index(NB201Space().parse(summary["arch"])) == summary["index"]
    assert summary["cost"] <= 20000
    assert 90.0 < summary["test_acc"] < 94.375  # published best CIFAR-10 test accuracy, rounded
    assert summary["arch"] in out.replace("\n", "") or str(summary["index"]) in out
    assert 0 < summary["strategy_s"] < summary["wall_s"]
    assert "strategy's own time" in out


def test_default_tabular_search_is_pmf_at_the_datasets_nats_budget(cli, data_env, tmp_path):
    out_json = tmp_path / "out.json"
    code, _, err = cli.run("search", "--dataset", "cifar100", "--json", str(out_json))
    assert code == 0, err
    summary = json.loads(out_json.read_text())
    assert summary["strategy"] == "pmf" and summary["budget"] == 40000  # NATS-Bench's CIFAR-100
    assert (
        summary["fidelity"] == "epochs=200" and summary["test_acc"] < 73.515
    )  # published best, rounded
    # PMF stops when its next 12-epoch evaluation no longer fits: the budget, not the strategy
    left = format_amount(40000 - summary["cost"], "simulated")
    assert summary["stop_reason"].startswith(
        f"the remaining {left} cannot pay for another epochs=12 evaluation (≈ "
    )


def test_a_search_prints_a_line_per_trial_on_stderr_and_quiet_none(cli, data_env, tmp_path):
    args = ["search", "--benchmark", "nb201", "--strategy", "random", "--budget", "3000"]
    code, out, err = cli.run(*args, "--json", str(tmp_path / "out.json"))
    assert code == 0, err
    summary = json.loads((tmp_path / "out.json").read_text())
    lines = err.splitlines()
    assert len(lines) == summary["n_trials"]  # one fidelity: every trial is shown
    assert [line.split("  ")[:2] for line in lines] == [
        [f"trial {n}", "epochs=12"] for n in range(summary["n_trials"])
    ]
    assert sum("new best" in line for line in lines) >= 1
    code, quiet_out, quiet_err = cli.run(*args, "-q")
    assert code == 0 and quiet_err == ""
    assert _untimed(quiet_out) == _untimed(out)  # the summary on stdout is the same
    assert cli.run(*args, "--quiet", "--verbose")[0] == 2


def test_simulated_workers_search_a_table_sooner_and_resume_from_storage(cli, data_env, tmp_path):
    db = tmp_path / "runs.db"
    args = ["search", "--benchmark", "nb201", "--strategy", "rea", "--budget", "3000"]
    outs = {}
    for workers in (1, 4):
        out = tmp_path / f"w{workers}.json"
        code, text, err = cli.run(*args, "--workers", workers, "--storage", db, "--json", out)
        assert code == 0, err
        outs[workers] = json.loads(out.read_text())
    one, four = outs[1], outs[4]
    assert four["workers"] == 4 and "4 simulated workers" in text
    assert four["n_trials"] > 2 * one["n_trials"]  # four workers, the same clock
    code, _, err = cli.run(
        *args, "--workers", 4, "--storage", db, "--json", tmp_path / "again.json"
    )
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())
    assert "replayed" in err or "resuming" in err
    assert (again["arch"], again["n_trials"]) == (four["arch"], four["n_trials"])
    with Storage(db) as storage:
        assert {name for name, _ in storage.studies()} == {
            "rea-cifar10-seed0",
            "rea-cifar10-seed0-w4",
        }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--benchmark", "nb201", "--executor", "process"], "drop --executor"),
        (["--address", "auto"], "are for a Ray cluster: add --executor ray"),
        (["--executor", "dask"], "unknown executor 'dask'"),
        (["--workers", "2", "--gpus", "a,b"], "--gpus takes GPU indices"),
    ],
)
def test_executor_options_that_do_not_fit_are_refused_in_one_line(cli, argv, message):
    code, _, err = cli.run("search", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def _untimed(summary: str) -> list[str]:
    return [line for line in summary.splitlines() if "strategy's own time" not in line]


def test_protocol_picks_the_12_epoch_signal(cli, data_env, tmp_path, bench):
    """Default: the 12-epoch validation accuracy; --protocol peers: its test accuracy. Both
    protocols' studies live side by side in one storage file."""
    db = tmp_path / "runs.db"
    args = ["search", "--benchmark", "nb201", "--strategy", "random", "--budget", "3000"]
    signals = {"default": "val_acc_12", "peers": "test_acc_12"}
    for protocol, metric in signals.items():
        out_json = tmp_path / f"{protocol}.json"
        code, _, err = cli.run(
            *args, "--protocol", protocol, "--storage", str(db), "--json", str(out_json)
        )
        assert code == 0, err
        summary = json.loads(out_json.read_text())
        assert summary["protocol"] == protocol and summary["fidelity"] == "epochs=12"
        assert summary["val_acc"] == bench.value(metric, "cifar10", summary["index"])
    assert cli.run(*args, "--json", str(tmp_path / "none.json"))[0] == 0
    assert json.loads((tmp_path / "none.json").read_text())["protocol"] == "default"


def test_search_resumes_from_storage(cli, data_env, tmp_path):
    db = tmp_path / "runs.db"
    args = ["search", "--benchmark", "nb201", "--strategy", "random", "--budget", "5000"]
    args += ["--storage", str(db)]
    first = cli.run(*args, "--json", str(tmp_path / "a.json"))
    again = cli.run(*args, "--json", str(tmp_path / "b.json"))
    assert first[0] == again[0] == 0
    trials = json.loads((tmp_path / "a.json").read_text())["n_trials"]
    assert again[2] == f"resuming study random-cifar10-seed0: {trials} stored trials replayed\n"

    def result(name: str) -> dict:  # all but the timings of this run
        summary = json.loads((tmp_path / name).read_text())
        return {k: v for k, v in summary.items() if k not in ("strategy_s", "wall_s")}

    assert result("a.json") == result("b.json")
    longer = cli.run(
        *args[:-4],
        "--budget",
        "10000",
        "--storage",
        str(db),
        "--json",
        str(tmp_path / "c.json"),
    )
    assert longer[0] == 0
    assert (
        json.loads((tmp_path / "c.json").read_text())["n_trials"]
        > json.loads((tmp_path / "a.json").read_text())["n_trials"]
    )


def test_a_study_another_process_runs_is_refused_in_one_line(cli, data_env, tmp_path):
    db = tmp_path / "runs.db"
    args = ["search", "--benchmark", "nb201", "--strategy", "random", "--storage", str(db)]
    assert cli.run(*args, "--budget", "2000")[0] == 0
    holder = Storage(db)
    [(name, config)] = holder.studies()
    with holder.lease(holder.study(name, config), name):
        code, _, err = cli.run(*args, "--budget", "4000")
    assert code == 2 and err.count("\n") == 1
    assert f"study '{name}' in {db} is being run by pid" in err


def test_arch_info(cli, data_env):
    code, out, err = cli.run("arch", "info", "6111", "--json", "-")
    assert code == 0, err
    info = json.loads(out)
    assert info["arch"] == BEST_C10
    assert info["test_acc_200"] == pytest.approx(94.37, abs=0.005)  # published optimum
    code, out, _ = cli.run("arch", "info", BEST_C10, "--dataset", "cifar100")
    assert code == 0 and "6111" in out


def test_arch_info_without_data_still_gives_size(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PMFNAS_DATA", str(tmp_path / "nothing"))
    code, out, _ = cli.run("arch", "info", "0", "--json", "-")
    assert code == 0
    info = json.loads(out)
    assert info["params_m"] == pytest.approx(0.129306, abs=1e-6)  # official record of arch 0
    assert info["benchmark"].startswith("not available")
    code, out, _ = cli.run("arch", "info", "--space", "darts", "DARTS_V1", "--json", "-")
    assert code == 0
    info = json.loads(out)
    assert info["params_m"] == 3.169414  # published for DARTS_V1's evaluation network
    assert info["surrogate"].startswith("not available") and "val_acc_98" not in info


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "--dataset", "mnist"], "unknown dataset"),
        (["search", "--benchmark", "nb201", "--strategy", "nope"], "unknown strategy"),
        (["search", "--benchmark", "nb999"], "unknown benchmark"),
        (["search", "--benchmark", "nb201", "--budget", "-5"], "budget"),
        (["search", "--benchmark", "nb201", "--budget", "1"], "single evaluation"),
        (["search", "--benchmark", "nb201", "-o", "population"], "KEY=VALUE"),
        (["search", "--benchmark", "nb201", "-o", "colour=blue"], "pmf has no parameter 'colour'"),
        (
            ["search", "--benchmark", "nb201", "--strategy", "rea", "-o", "population=abc"],
            "error: population must be an integer, got 'abc'",
        ),
        (
            ["search", "--benchmark", "nb201", "--strategy", "rea", "-o", "nonsense=3"],
            "rea has no parameter 'nonsense' (known: population, sample_size, fidelity)",
        ),
        (["bench", "--strategies", "rea", "-o", "rea.eta=3"], "rea has no parameter 'eta'"),
        (["bench", "--strategies", "sh", "-o", "sh.eta=fast"], "eta must be a number, got 'fast'"),
        (["search", "--benchmark", "nb201", "--protocol", "test"], "unknown protocol"),
        (["search", "--data", "digits", "--protocol", "peers"], "--protocol"),
        (["search", "--no-such-flag"], "no-such-flag"),
        (["arch", "info", "|nor_conv_3x3~0|+|bad"], "malformed"),
        (["arch", "info", "15625"], "out of range"),
        (["arch", "info", "²"], "malformed"),
        (["arch", "info", "9" * 5000], "out of range"),
        (["arch", "info", "--space", "darts", "Genotype(normal=[])"], "malformed DARTS genotype"),
        (["arch", "info", "--space", "darts", "DARTS_V9"], "unknown genotype name"),
        (["arch", "info", "--space", "darts", "DARTS_V2", "--dataset", "cifar100"], "CIFAR-10"),
        (["arch", "info", "--space", "chain", "0"], "unknown space 'chain'"),
        (["search", "--benchmark", "nb201", "--seed", "-1"], "seed must be an integer"),
        (["search", "--benchmark", "nb201", "--seed", str(2**32)], "seed must be an integer"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, data_env, argv, message):
    code, _, err = cli.run(*argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_data_dir(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PMFNAS_DATA", str(tmp_path / "nothing"))
    code, _, err = cli.run("search", "--benchmark", "nb201")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_corrupt_data_file(cli, data_env, tmp_path, monkeypatch):
    nb201 = tmp_path / "data" / "nb201"
    shutil.copytree(data_env / "nb201", nb201, ignore=shutil.ignore_patterns("*.parquet", "*.pt"))
    csv = nb201 / "nb201_test200_mean.csv"
    csv.write_bytes(csv.read_bytes()[:10_000])
    monkeypatch.setenv("PMFNAS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PMFNAS_CACHE", str(tmp_path / "cache"))
    code, _, err = cli.run("search", "--dataset", "cifar10")
    assert code == 2
    assert "nb201_test200_mean.csv" in err and len(err.strip().splitlines()) == 1


def test_console_script_end_to_end(data_env, tmp_path):
    exe = shutil.which("pmfnas", path=os.path.dirname(sys.executable))
    assert exe, "the pmfnas console script is installed with the package"
    done = subprocess.run(
        [
            exe,
            "search",
            "--dataset",
            "ImageNet16-120",
            "--strategy",
            "random",
            "--budget",
            "120000",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PMFNAS_DATA": str(data_env)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    bad = subprocess.run(
        [exe, "search", "--dataset", "x"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--benchmark", "nb201", "--json", "nodir/o.json"],
        ["search", "--benchmark", "nb201", "--json", "afolder"],
        ["search", "--benchmark", "nb201", "--checkpoints", "afile"],
        ["search", "--benchmark", "nb201", "--checkpoints", "afile/ck"],
        ["report", "runs.db", "--out", "afile"],
        ["bench", "--seeds", "1", "--json", "nodir/b.json"],
        ["bench", "--seeds", "1", "--plot", "nodir/b.png"],
        ["bench", "--seeds", "1", "--report", "afile"],
    ],
)
def test_unwritable_outputs_are_refused_before_any_work(cli, data_env, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "afolder").mkdir()
    code, _, err = cli.run(*argv, *(["--storage", "runs.db"] if argv[0] != "report" else []))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert argv[-2] in err  # names the option
    assert not (tmp_path / "runs.db").exists()  # nothing was searched or stored


def test_a_rebuilt_cache_warns_in_one_line(cli, data_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PMFNAS_CACHE", str(tmp_path))
    args = ("search", "--benchmark", "nb201", "--strategy", "random", "--budget", "3000", "-q")
    assert cli.run(*args)[0] == 0  # builds the cache
    for cache in tmp_path.glob("*.npz"):
        cache.write_bytes(b"not an npz file")
    code, _, err = cli.run(*args)
    assert code == 0
    assert err.count("\n") == 1 and err.startswith("warning: rebuilding the unreadable cache")


def test_an_interrupted_search_prints_its_best_and_a_rerun_resumes(
    cli, data_env, tmp_path, stored_trials
):
    db = tmp_path / "runs.db"
    # REA paying for every request does about 7,000 evaluations: far more than the 20 awaited.
    args = ["search", "--benchmark", "nb201", "--strategy", "rea", "--no-reuse", "--budget", "1e6"]
    child = cli.spawn(*args, "--storage", str(db), "--json", str(tmp_path / "stopped.json"))
    cli.wait_for(lambda: len(stored_trials(db)) >= 20, child)
    out, err = cli.interrupt(child, signal.SIGINT)
    assert child.returncode == 130
    *trials, last = err.splitlines()
    assert last.startswith("interrupted: search stopped") and all(
        line.startswith("trial ") for line in trials
    )
    assert f"rerun the same command to resume from {db}" in last
    stopped = json.loads((tmp_path / "stopped.json").read_text())
    assert stopped["stop_reason"] == "interrupted" and "(interrupted: the best so far)" in out
    assert stopped["arch"] in out.replace("\n", "")
    kept = stored_trials(db)
    assert stopped["n_trials"] <= len(kept) <= stopped["n_trials"] + 1  # one may be stored unseen

    code, _, err = cli.run(*args, "--storage", str(db), "--json", str(tmp_path / "resumed.json"))
    assert code == 0, err
    assert stored_trials(db)[: len(kept)] == kept  # replayed, not evaluated again
    code, _, err = cli.run(*args, "--json", str(tmp_path / "whole.json"))
    assert code == 0, err

    def result(name: str) -> dict:  # all but the timings of the run
        summary = json.loads((tmp_path / name).read_text())
        return {k: v for k, v in summary.items() if k not in ("strategy_s", "wall_s")}

    assert result("resumed.json") == result("whole.json")
    assert result("resumed.json")["stop_reason"] != "interrupted"
