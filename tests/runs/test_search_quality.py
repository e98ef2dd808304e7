"""Search quality on the real NAS-Bench-201 tables (not timed: speed figures live in benchmarks/)."""

import statistics

import pytest

from pmfnas.runs.search import run_search

NATS_BUDGETS = {"cifar10": 20000.0, "cifar100": 40000.0, "ImageNet16-120": 120000.0}
BEST_TEST = {"cifar10": 94.37, "cifar100": 73.51, "ImageNet16-120": 47.31}  # published optima


@pytest.mark.parametrize("dataset", NATS_BUDGETS)
def test_rea_beats_random_over_30_seeds(bench, dataset):
    def mean_test(strategy):
        tests = [
            run_search(
                bench, dataset=dataset, strategy=strategy, budget=NATS_BUDGETS[dataset], seed=s
            )["test_acc"]
            for s in range(30)
        ]
        assert max(tests) < BEST_TEST[dataset] + 0.005  # published values are rounded
        return statistics.mean(tests)

    assert mean_test("rea") > mean_test("random")
