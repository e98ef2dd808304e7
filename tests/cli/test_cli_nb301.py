"""``pmfnas search --benchmark nb301``: the DARTS space on NAS-Bench-301's surrogate, end to end."""

import json

import pytest

from pmfnas.spaces.darts import DartsSpace


@pytest.fixture
def nb301_env(data_env, nb301_dir):
    return data_env


def test_a_surrogate_search_prints_and_stores_darts_genotypes_and_resumes(cli, nb301_env, tmp_path):
    db, out_json = tmp_path / "runs.db", tmp_path / "out.json"
    args = ["search", "--benchmark", "nb301", "--strategy", "rea", "--budget", "14h"]
    code, out, err = cli.run(*args, "--storage", str(db), "--json", str(out_json))
    assert code == 0, err
    summary = json.loads(out_json.read_text())
    assert summary["benchmark"] == "nb301" and summary["test_acc"] is None
    assert summary["fidelity"] == "epochs=98" and summary["cost"] <= 14 * 3600
    assert summary["final_val_acc"] == round(summary["val_acc"], 2)  # the returned training's
    assert "reported only" not in out
    DartsSpace().parse(summary["arch"])  # the canonical genotype text
    assert "NAS-Bench-301 surrogate" in out and "test accuracy" not in out
    again = cli.run(*args, "--storage", str(db), "--json", str(tmp_path / "again.json"))
    assert again[0] == 0
    assert again[2].startswith("resuming study rea-nb301-seed0:")
    assert json.loads((tmp_path / "again.json").read_text())["arch"] == summary["arch"]
    code, out, err = cli.run("trials", "--storage", str(db), "--study", "rea-nb301-seed0")
    assert code == 0, err
    assert "Genotype(normal=" in out


def test_a_proxy_only_search_reports_its_genotypes_full_training_accuracy(cli, nb301_env, tmp_path):
    out_json, db = tmp_path / "out.json", tmp_path / "runs.db"
    args = ["search", "--benchmark", "nb301", "--strategy", "mfnas", "-o", "steps=5"]
    code, out, err = cli.run(*args, "--json", str(out_json), "--storage", str(db))
    assert code == 0, err  # its fitness defaults to the sizes NB301 serves
    summary = json.loads(out_json.read_text())
    assert summary["fidelity"] == "proxy:params,flops" and summary["val_acc"] is None
    assert summary["final_fidelity"] == "epochs=98" and 85.0 < summary["final_val_acc"] < 95.5
    line = f"validation accuracy (epochs=98, reported only)  {summary['final_val_acc']:.2f}"
    assert line in out
    code, out, err = cli.run("best", "--storage", str(db))  # read back, as the search said it
    assert code == 0, err
    assert line in out and "NATS index" not in out and "test accuracy" not in out
    code, out, _ = cli.run("best", "--storage", str(db), "--json", "-")
    assert json.loads(out)["final_val_acc"] == summary["final_val_acc"]
    code, _, err = cli.run("report", str(db), "--out", str(tmp_path / "report"))
    assert code == 0, err
    page = (tmp_path / "report" / "report.html").read_text()
    assert "its validation accuracy after 98 epochs (predicted)" in page
    assert f"<dd>{summary['final_val_acc']:.2f}</dd>" in page


def test_arch_info_gives_a_darts_genotypes_published_sizes_and_nb301s_prediction(cli, nb301_env):
    code, out, err = cli.run("arch", "info", "--space", "darts", "DARTS_V2", "--json", "-")
    assert code == 0, err
    info = json.loads(out)
    assert info["params_m"] == 3.349342  # published: 3,349,342 without the auxiliary head
    assert info["params_with_auxiliary_m"] == 3.825768  # and 3,825,768 with it
    assert info["parameter_free_share"] == 0.25  # 2 skip connections among 8 normal edges
    assert info["val_acc_98"] == pytest.approx(93.0, abs=1.0)  # YAHPO Gym's DARTS-V2: 0.93
    assert info["val_acc_12"] < info["val_acc_98"] and info["train_seconds_98"] > 0
    code, out, _ = cli.run("arch", "info", "--space", "darts", info["arch"])
    assert code == 0 and "NB301's predictions" in out and "3.3493" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "cifar100"], "nb301 is CIFAR-10 under one protocol"),
        (["--protocol", "peers"], "nb301 is CIFAR-10 under one protocol"),
        (["--budget", "3e9flops"], "simulated seconds"),
    ],
)
def test_what_the_surrogate_cannot_do_is_one_error_line(cli, nb301_env, extra, message):
    code, _, err = cli.run("search", "--benchmark", "nb301", "--strategy", "random", *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_the_report_of_a_surrogate_search_says_there_is_no_test_accuracy(cli, nb301_env, tmp_path):
    db = tmp_path / "runs.db"
    args = ["search", "--benchmark", "nb301", "--strategy", "hyperband", "--budget", "14h"]
    assert cli.run(*args, "--storage", str(db))[0] == 0
    code, _, err = cli.run("report", str(db), "--out", str(tmp_path / "report"))
    assert code == 0, err
    page = (tmp_path / "report" / "report.html").read_text()
    assert "surrogate predicts validation accuracy only" in page
    assert "hyperband on nb301 (cifar10)" in page and "simulated" in page
    assert "DARTS evaluation network (C=36, 20 cells)" in page


def test_a_bench_on_the_surrogate_compares_predicted_final_validation_accuracy(
    cli, nb301_env, tmp_path
):
    out_json, report = tmp_path / "bench.json", tmp_path / "report"
    code, out, err = cli.run(
        "bench", "--benchmark", "nb301", "--strategies", "random,rea", "--seeds", "2",
        "--budget", "14h", "--workers", "1", "--json", str(out_json), "--report", str(report),
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out_json.read_text())
    assert result["benchmark"] == "nb301" and result["space_best_val_acc_98"] is None
    assert "no test accuracy" in result["final"]
    for row in result["summary"]:
        assert 90 < row["val_acc_98"]["mean"] < 95 and row["regret"] is None
    for run in result["results"]:
        assert run["index"] is None and "test_acc" not in run
        assert run["val_acc_98"] == pytest.approx(run["val_acc"])  # evaluated at 98 epochs
    assert "val acc (98 ep.)" in out and "NAS-Bench-301 surrogate" in out
    assert "predicted validation accuracy after 98 epochs" in (report / "report.html").read_text()


def test_a_surrogate_search_and_bench_take_measured_proxies_from_a_darts_table(
    cli, nb301_env, darts_table, tmp_path
):
    table = tmp_path / "proxies.db"
    darts_table(table, count=50).close()
    out_json = tmp_path / "out.json"
    args = ["--benchmark", "nb301", "--budget", "14h", "--proxy-table", str(table)]
    code, _, err = cli.run("search", *args, "--json", str(out_json))
    assert code == 0, err
    assert json.loads(out_json.read_text())["trials"]["proxy:nwot"] == 50
    bench_json = tmp_path / "bench.json"
    code, _, err = cli.run(
        "bench", *args, "--strategies", "pmf", "--seeds", "2", "--workers", "1",
        "--json", str(bench_json),
    )  # fmt: skip
    assert code == 0, err
    bench = json.loads(bench_json.read_text())
    (row,) = bench["summary"]
    assert str(table) in bench["proxies"] and row["runs"] == 2
    assert row["params"]["pool_seed"] == 4 and row["params"]["low"] == "proxy:nwot"


@pytest.mark.parametrize(
    "command", [["search", "--benchmark", "nb201"], ["search"], ["bench", "--benchmark", "nb201"]]
)
def test_a_proxy_table_outside_nb301_is_one_error_line(
    cli, nb301_env, darts_table, tmp_path, command
):
    table = tmp_path / "proxies.db"
    darts_table(table, count=2).close()
    code, _, err = cli.run(*command, "--proxy-table", str(table))
    assert (
        code == 2
        and err.strip() == "error: --proxy-table is the low fidelity of --benchmark nb301 only"
    )
