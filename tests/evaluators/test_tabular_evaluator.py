import math

import numpy as np
import pytest

from pmfnas.errors import ConfigError, DataError, FidelityError, NotAvailableError, StorageError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import Study
from pmfnas.types import Fidelity

SPACE = NB201Space()
BEST_C10 = SPACE.arch(6111)


@pytest.fixture(scope="module")
def c10(bench):
    return TabularEvaluator(bench, "cifar10")


def test_cost_is_epochs_times_the_recorded_epoch_time(c10, bench):
    per_epoch = bench.value("train_time_per_epoch", "cifar10", 6111)
    for epochs in (12, 200):
        result = c10.evaluate(BEST_C10, Fidelity(epochs=epochs))
        assert result.cost == pytest.approx(epochs * per_epoch)
        assert c10.expected_cost(BEST_C10, Fidelity(epochs=epochs)) == result.cost


def test_200_epoch_signal_is_the_validation_accuracy(c10):
    # cifar10-valid validation accuracy; best cell 91.61 (published, PROVENANCE.md)
    assert c10.evaluate(BEST_C10, Fidelity(epochs=200)).val_acc == pytest.approx(91.61, abs=0.005)


@pytest.mark.parametrize(("protocol", "split"), [("default", 0), ("peers", 1)])
def test_12_epoch_signal_follows_the_protocol(bench, official_12_epoch, protocol, split):
    """Default: the 12-epoch validation accuracy; peers: its test accuracy (the official records'
    x-valid@11, and ori-test@11 / x-test@11, of archs 0, 11 and 284)."""
    for (index, dataset), accuracies in official_12_epoch.items():
        evaluator = TabularEvaluator(bench, dataset, protocol=protocol)
        result = evaluator.evaluate(SPACE.arch(index), Fidelity(epochs=12))
        assert result.val_acc == pytest.approx(accuracies[split], rel=1e-6)
    assert TabularEvaluator(bench, "cifar10").protocol == "default"


def test_protocol_is_part_of_the_stored_settings(bench, tmp_path):
    """A study stored under one protocol is refused under the other, never mixed."""
    default, peers = (TabularEvaluator(bench, "cifar10", protocol=p) for p in ("default", "peers"))
    assert default.describe() == {**peers.describe(), "protocol": "default"}
    db = Storage(tmp_path / "runs.db")
    try:
        random = create_strategy("random", SPACE, ladder=default.ladder)
        Study(SPACE, default, random, 500, storage=db, name="s").run()
        with pytest.raises(
            StorageError, match=r"\(evaluator\.protocol: stored \"default\", now \"peers\"\);"
        ):
            Study(SPACE, peers, random, 500, storage=db, name="s").run()
    finally:
        db.close()
    with pytest.raises(ConfigError, match=r"unknown protocol 'test'.*default, peers"):
        TabularEvaluator(bench, "cifar10", protocol="test")


def test_test_accuracy_is_reported_separately(c10):
    assert c10.test_accuracy(BEST_C10) == pytest.approx(94.37, abs=0.005)
    for epochs in (12, 200):
        assert set(c10.evaluate(BEST_C10, Fidelity(epochs=epochs)).metrics) == {"val_acc"}


def test_zen_proxy_fidelity(bench):
    evaluator = TabularEvaluator(bench, "cifar100")
    result = evaluator.evaluate(BEST_C10, Fidelity(proxies=("zen",)))
    assert result.metrics["zen"] == bench.value("zen_score", "cifar100", 6111)
    assert result.cost == bench.value("zen_time", "cifar100", 6111)
    assert not math.isnan(result.cost)


def test_unserved_fidelities_and_datasets(c10, bench):
    for fidelity in ("epochs=50", "proxy:synflow"):
        with pytest.raises(FidelityError):
            c10.evaluate(BEST_C10, Fidelity.parse(fidelity))
    with pytest.raises(DataError):
        TabularEvaluator(bench, "mnist")


def test_serves_a_proxy_table(bench):
    scores = np.full(NB201Space.size, np.nan)
    seconds = np.full(NB201Space.size, np.nan)
    scores[6111], seconds[6111] = 42.0, 0.5
    evaluator = TabularEvaluator(bench, "cifar10", proxies={"nwot": (scores, seconds)})
    result = evaluator.evaluate(BEST_C10, Fidelity(proxies=("nwot", "zen")))
    assert result.metrics["nwot"] == 42.0
    assert result.cost == pytest.approx(0.5 + bench.value("zen_time", "cifar10", 6111))
    with pytest.raises(NotAvailableError):
        evaluator.evaluate(SPACE.arch(0), Fidelity(proxies=("nwot",)))
    with pytest.raises(FidelityError, match="compute a proxy table"):
        evaluator.evaluate(BEST_C10, Fidelity(proxies=("synflow",)))


def test_params_and_flops_are_free_exact_proxies(bench, nb201_official_costs):
    for record in nb201_official_costs:  # the official NATS-Bench records in the data folder
        evaluator = TabularEvaluator(bench, record.dataset)
        result = evaluator.evaluate(record.cell, Fidelity(proxies=("params", "flops")))
        assert result.metrics["params"] == pytest.approx(record.params, abs=1e-6)
        assert result.metrics["flops"] == pytest.approx(record.flop, abs=1e-5)
        assert result.cost == 0.0
        assert evaluator.ladder.network_size(record.cell) == (
            result.metrics["params"],
            result.metrics["flops"],
        )  # what strategies' size limits count (MFNAS)


@pytest.mark.parametrize(
    ("dataset", "budget"), [("cifar10", 20000), ("cifar100", 40000), ("ImageNet16-120", 120000)]
)
def test_the_ladder_is_nb201s_at_the_datasets_nats_budget(bench, dataset, budget):
    ladder = TabularEvaluator(bench, dataset).ladder
    assert (str(ladder.low), str(ladder.medium), str(ladder.high)) == (
        "proxy:meco,synflow",
        "epochs=12",
        "epochs=200",
    )
    assert ladder.single == Fidelity(epochs=12)  # the NATS-Bench and peers' search signal
    assert ladder.default_budget == budget  # NATS-Bench's simulated seconds per search
