import math

import numpy as np
import pytest

from pmfnas.errors import DataError, FidelityError, NotAvailableError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
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


def test_signals_follow_the_protocol(c10, bench):
    # 200 epochs: cifar10-valid validation accuracy; best cell 91.61 (published, PROVENANCE.md)
    assert c10.evaluate(BEST_C10, Fidelity(epochs=200)).val_acc == pytest.approx(91.61, abs=0.005)
    # 12 epochs: the bundle only has the test-split number, which is then the signal
    assert c10.evaluate(BEST_C10, Fidelity(epochs=12)).val_acc == bench.value(
        "test_acc_12", "cifar10", 6111
    )


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
