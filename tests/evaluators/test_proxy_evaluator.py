import json
from dataclasses import replace

import numpy as np
import pytest

from pmfnas.data import load_dataset
from pmfnas.errors import ConfigError, DataError, FidelityError, StorageError
from pmfnas.evaluators.proxy import ProxyEvaluator
from pmfnas.evaluators.proxy_table import ProxyTable
from pmfnas.runs.proxies import compute_proxy_table, proxy_table_path, select_archs
from pmfnas.spaces import DartsSpace, sample_fingerprint, seeded_sample
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.costs import params_and_flops
from pmfnas.types import Fidelity

SMALL = {"batch_size": 16, "channels": 4, "cells_per_stage": 1}
SMALL_NET = {"channels": 4, "cells_per_stage": 1, "input_channels": 1}
SPACE = NB201Space()


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_same_seed_same_scores_and_measured_cost(digits):
    fidelity = Fidelity(proxies=("nwot", "synflow", "params"))
    a = ProxyEvaluator(digits, seed=3, **SMALL).evaluate(SPACE.arch(6111), fidelity)
    b = ProxyEvaluator(digits, seed=3, **SMALL).evaluate(SPACE.arch(6111), fidelity)
    assert a.metrics == b.metrics
    assert set(a.metrics) == {"nwot", "synflow", "params"}
    assert a.cost > 0
    other = ProxyEvaluator(digits, seed=4, **SMALL).evaluate(SPACE.arch(6111), fidelity)
    assert other.metrics["nwot"] != a.metrics["nwot"]  # another batch
    assert other.metrics["params"] == a.metrics["params"]  # data-independent


def test_a_compute_budget_counts_the_proxies_passes(digits):
    fidelity = Fidelity(proxies=("nwot", "synflow"))
    evaluator = ProxyEvaluator(digits, budget_unit="flops", **SMALL)
    cell = SPACE.arch(6111)
    _, mflops = params_and_flops(np.array([cell]), **SMALL_NET, num_classes=10, input_size=8)
    forward = mflops[0] * 1e6
    # nwot reads a forward pass of the 16-image batch; synflow runs one image forward and back
    assert evaluator.expected_cost(cell, fidelity) == pytest.approx(forward * (16 + 3))
    result = evaluator.evaluate(cell, fidelity)
    assert result.cost == result.private["flops"] == pytest.approx(forward * 19)
    assert result.private["seconds"] > 0


def test_a_wall_budget_expects_the_seconds_of_earlier_scorings(digits):
    fidelity = Fidelity(proxies=("nwot",))
    evaluator = ProxyEvaluator(digits, **SMALL)
    assert evaluator.expected_cost(SPACE.arch(0), fidelity) is None
    first = evaluator.evaluate(SPACE.arch(0), fidelity)
    assert evaluator.expected_cost(SPACE.arch(1), fidelity) == first.cost


def test_only_proxy_fidelities(digits):
    with pytest.raises(FidelityError):
        ProxyEvaluator(digits, **SMALL).evaluate(SPACE.arch(0), Fidelity(epochs=12))


def test_select_archs(tmp_path):
    assert select_archs("all") == list(range(SPACE.size))
    sample = select_archs("50", seed=1)
    assert len(set(sample)) == 50 and sample == select_archs("50", seed=1)
    listing = tmp_path / "archs.txt"
    listing.write_text(f"# two cells\n6111\n{SPACE.format(SPACE.arch(7))}\n")
    assert select_archs(str(listing)) == [6111, 7]
    for bad in ("0", "15626", "nowhere.txt"):
        with pytest.raises(ConfigError):
            select_archs(bad)


def test_the_darts_sample_is_seeded_and_a_larger_one_extends_it():
    space = DartsSpace()
    sample = seeded_sample(space, 40, seed=3)
    assert len(set(sample)) == 40 and sample == seeded_sample(space, 40, seed=3)
    assert seeded_sample(space, 15, seed=3) == sample[:15]
    assert seeded_sample(space, 15, seed=4) != sample[:15]
    with pytest.raises(ConfigError, match="15625 architectures"):
        seeded_sample(SPACE, SPACE.size + 1, seed=0)


def test_darts_keys_are_positions_in_the_sample(tmp_path):
    assert select_archs("4", seed=9, space="darts") == [0, 1, 2, 3]
    listing = tmp_path / "archs.txt"
    listing.write_text("DARTS_V2\n")
    for bad in ("all", "0", str(listing)):
        with pytest.raises(ConfigError, match="--archs for darts must be a count"):
            select_archs(bad, space="darts")


def test_a_darts_table_scores_its_sample_and_refuses_other_settings(tmp_path, digits):
    path = tmp_path / "t.db"
    table = compute_proxy_table(
        "digits", ("params", "nwot"), [0, 1, 2], space="darts", table=path, seed=5, **SMALL
    )
    assert table.settings["space"] == "darts" and table.settings["sample_seed"] == 5
    evaluator = ProxyEvaluator(digits, seed=5, space=DartsSpace(), **SMALL)
    second = seeded_sample(DartsSpace(), 3, seed=5)[1]
    assert table.get(1, "nwot")[0] == evaluator.scores(second, ["nwot"])["nwot"].score
    table.close()
    for other in ({"seed": 6}, {"space": "nb201", "seed": 5}):
        with pytest.raises(StorageError, match="other settings"):
            compute_proxy_table("digits", ("params",), [0], table=path, **{**SMALL, **other})


def test_a_darts_table_made_by_a_sampler_that_drew_otherwise_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "t.db"
    compute_proxy_table("digits", ("params",), [0, 1], space="darts", table=path, **SMALL).close()
    fingerprint = sample_fingerprint(DartsSpace(), 0)
    assert fingerprint == sample_fingerprint(DartsSpace(), 0) != sample_fingerprint(DartsSpace(), 1)
    drawn = DartsSpace.sample
    monkeypatch.setattr(DartsSpace, "sample", lambda self, rng: [drawn(self, rng) for _ in "ab"][1])
    assert sample_fingerprint(DartsSpace(), 0) != fingerprint
    with pytest.raises(StorageError, match="other settings"):
        compute_proxy_table("digits", ("params",), [0, 1], space="darts", table=path, **SMALL)


def test_default_table_files_keep_nb201_names_and_part_darts():
    nb201 = ProxyEvaluator(load_dataset("digits"), **SMALL).settings()
    assert proxy_table_path("cifar10", nb201).name == "proxies-nb201-cifar10-C4-N1-b16-s0.db"
    darts = {**nb201, "space": "darts", "sample_seed": 0}
    assert proxy_table_path("cifar10", darts).name == "proxies-darts-cifar10-C4-N1-b16-s0.db"


def test_table_on_digits_is_filled_and_resumed(tmp_path):
    table = compute_proxy_table(
        "digits", ("synflow", "nwot"), [1, 2, 3], table=tmp_path / "t.db", **SMALL
    )
    scores, seconds = table.arrays("synflow", SPACE.size)
    assert np.isfinite(scores[[1, 2, 3]]).all() and np.isnan(scores[0])
    again = compute_proxy_table(
        "digits", ("synflow", "nwot"), [1, 2, 3], table=tmp_path / "t.db", **SMALL
    )
    assert np.array_equal(
        again.arrays("synflow", SPACE.size)[1], seconds, equal_nan=True
    )  # nothing recomputed


def test_cli_score_on_cifar10(cli, data_env, tmp_path):
    args = ["proxies", "score", "--data", "cifar10", "--sample", "12", "--channels", "4", "--cells", "1",
            "--batch-size", "16", "--proxies", "params,synflow", "--table", str(tmp_path / "t.db"),
            "--json", str(tmp_path / "q.json"), "--plot", str(tmp_path / "q.png")]  # fmt: skip
    code, _, err = cli.run(*args)
    assert code == 0, err
    report = json.loads((tmp_path / "q.json").read_text())
    assert [p["proxy"] for p in report["proxies"]] == ["params", "synflow"]
    assert all(-1 <= p["spearman"] <= 1 and p["n"] == 12 for p in report["proxies"])
    assert (tmp_path / "q.png").stat().st_size > 1000


def test_cli_compute_and_score_darts_on_cifar10(cli, data_env, nb301_dir, tmp_path):
    table = tmp_path / "t.db"
    size = ["--channels", "4", "--cells", "1", "--batch-size", "8", "--table", str(table)]
    code, out, err = cli.run(
        "proxies", "compute", "--space", "darts", "--archs", "3", "--proxies", "nwot,params", *size
    )
    assert code == 0, err
    assert "3 architectures × 2 proxies" in out
    with ProxyTable.open(table) as filled:
        assert filled.settings["space"] == "darts" and filled.settings["sample_seed"] == 0
        assert filled.missing(range(3), ("nwot", "params")) == []
    code, out, err = cli.run(
        "proxies", "score", "--space", "darts", "--sample", "4", "--proxies", "nwot,params",
        "--json", str(tmp_path / "q.json"), *size,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "q.json").read_text())
    assert "surrogate's predicted 98-epoch" in report["reference"]
    assert [p["proxy"] for p in report["proxies"]] == [
        "nwot", "params", "params (C=36, 20 cells)", "flops (C=36, 20 cells)",
    ]  # fmt: skip
    code, _, err = cli.run("proxies", "export", str(table), "--out", str(tmp_path / "t.npz"))
    assert code == 2 and "only a table of all NB201 cells" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["proxies", "compute", "--proxies", "nope"], "unknown proxy"),
        (["proxies", "compute", "--space", "nope"], "unknown space"),
        (["proxies", "compute", "--space", "darts"], "--archs for darts must be a count"),
        (["proxies", "score", "--space", "darts", "--data", "digits"], "score darts proxies on"),
        (["proxies", "score", "--data", "digits", "--sample", "2"], "no NB201 accuracies"),
        (["proxies", "compute", "--workers", "0"], "--workers"),
        (["proxies", "compute", "--data", "digits", "--archs", "2", "--seed", "-1"], "seed must"),
        (["proxies", "compute", "--archs", "9" * 30], "out of range"),
        (["proxies", "compute", "--archs", "²"], "--archs must be"),
        (["proxies", "score", "--json", "nodir/q.json"], "--json nodir/q.json"),
    ],
)
def test_cli_errors(cli, data_env, monkeypatch, argv, message, tmp_path):
    monkeypatch.setenv("PMFNAS_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, _, err = cli.run(*argv, "--channels", "4", "--cells", "1", "--batch-size", "8")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("size", [["--channels", "0"], ["--cells", "0"], ["--batch-size", "0"]])
def test_cli_refuses_sizes_below_1(cli, size):
    code, _, err = cli.run("proxies", "compute", "--data", "digits", "--archs", "2", *size)
    assert code == 2 and size[0] in err and len(err.strip().splitlines()) == 1


def test_too_few_images_for_two_batches_is_a_data_error(digits):
    few = replace(digits, train_x=digits.train_x[:16], train_y=digits.train_y[:16])
    with pytest.raises(DataError, match=r"more than one batch of 16 training images; it has 16"):
        ProxyEvaluator(few, **SMALL)
    ProxyEvaluator(replace(few, train_x=digits.train_x[:17], train_y=digits.train_y[:17]), **SMALL)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"channels": 0}, ConfigError, "channels must be a positive integer"),
        ({"cells_per_stage": 1000}, ConfigError, "at most 100"),
        ({"batch_size": 0}, ConfigError, "batch_size must be positive"),
        ({"seed": -1}, ConfigError, "seed must be an integer"),
    ],
)
def test_bad_settings_fail_before_any_work(digits, change, error, message):
    with pytest.raises(error, match=message):
        ProxyEvaluator(digits, **{**SMALL, **change})
