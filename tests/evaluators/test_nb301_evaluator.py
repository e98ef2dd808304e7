"""The NAS-Bench-301 surrogate as an evaluator, and every ask/tell strategy searching through it."""

import numpy as np
import pytest

from pmfnas.errors import ConfigError, FidelityError
from pmfnas.evaluators.nb301 import NB301_BUDGET, NB301Evaluator, sample_proxies
from pmfnas.runs.search import run_search
from pmfnas.spaces import seeded_sample
from pmfnas.spaces.darts import DartsSpace
from pmfnas.strategies import STRATEGIES
from pmfnas.tables.nb301 import MAX_EPOCH
from pmfnas.types import Fidelity, Trial, TrialState

SPACE = DartsSpace()


@pytest.fixture(scope="module")
def evaluator(surrogate):
    return NB301Evaluator(surrogate)


def _sample(n, seed=0):
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(n)]


def test_an_evaluation_is_the_surrogates_prediction_charged_its_training_time(evaluator, surrogate):
    arch = SPACE.resolve("DARTS_V2")
    fresh = NB301Evaluator(surrogate)  # nothing trained yet
    half = Fidelity(epochs=50, horizon=98)
    expected = fresh.expected_cost(arch, half)
    result = fresh.evaluate(arch, half)
    direct = surrogate.predict([arch], 50)
    assert result.metrics["val_acc"] == pytest.approx(direct["val_acc"][0])
    assert result.metrics["val_loss"] == pytest.approx(direct["val_loss"][0])
    assert result.cost == expected == pytest.approx(direct["runtime"][0])
    assert evaluator.test_accuracy(arch) is None  # the surrogate predicts validation only
    assert evaluator.describe()["benchmark"] == "nb301"


def test_a_longer_training_never_costs_less(evaluator):
    for arch in _sample(20):
        prefixes = [Fidelity(epochs=e, horizon=98) for e in range(1, 99)]
        costs = [evaluator.expected_cost(arch, f) for f in prefixes]
        assert np.all(np.diff(costs) >= 0) and costs[0] > 0


def test_a_training_that_extends_one_of_the_same_genotype_pays_only_its_further_epochs(surrogate):
    arch, twelve, full = (
        SPACE.resolve("PC_DARTS"),
        Fidelity(epochs=12, horizon=98),
        Fidelity(epochs=98),
    )
    alone = NB301Evaluator(surrogate).expected_cost(arch, full)
    promoted = NB301Evaluator(surrogate)
    first = promoted.evaluate(arch, twelve).cost
    assert promoted.expected_cost(arch, full) == pytest.approx(alone - first)
    assert promoted.evaluate(arch, full).cost == pytest.approx(alone - first)
    assert promoted.expected_cost(arch, twelve) == 0.0  # a point of a curve already trained
    replayed = NB301Evaluator(surrogate)  # a resumed study: the stored trials are observed
    replayed.observe(Trial(0, arch, twelve, TrialState.COMPLETE, {"val_acc": 80.0}, first, first))
    assert replayed.expected_cost(arch, full) == pytest.approx(alone - first)


def test_the_default_budget_is_about_a_hundred_full_trainings(evaluator):
    full = [evaluator.expected_cost(a, Fidelity(epochs=MAX_EPOCH)) for a in _sample(200)]
    assert 90 * np.mean(full) < NB301_BUDGET < 110 * np.mean(full)
    assert evaluator.ladder.default_budget == NB301_BUDGET


def test_size_proxies_are_free_and_count_the_published_network(evaluator):
    result = evaluator.evaluate(SPACE.resolve("DARTS_V2"), Fidelity(proxies=("params", "flops")))
    assert result.cost == 0.0
    assert result.metrics["params"] == pytest.approx(3.349342)  # DARTS' published count
    assert evaluator.ladder.network_size(SPACE.resolve("DARTS_V2"))[0] == result.metrics["params"]


@pytest.mark.parametrize(
    ("fidelity", "message"),
    [
        ("epochs=99", "learning curve of a 98-epoch training"),
        ("epochs=12", "epochs=E,horizon=98"),
        ("epochs=12,horizon=98,fraction=0.5", "learning curve"),
        ("proxy:synflow", "no scores for proxy synflow"),
    ],
)
def test_fidelities_the_surrogate_cannot_answer_are_refused(evaluator, fidelity, message):
    with pytest.raises(FidelityError, match=message):
        evaluator.expected_cost(SPACE.resolve("DARTS_V2"), Fidelity.parse(fidelity))


ASK_TELL = sorted(STRATEGIES.names())


@pytest.mark.parametrize("name", ASK_TELL)
def test_every_ask_tell_strategy_searches_the_darts_space_on_the_surrogate(surrogate, name):
    budget = 10 * 5000.0  # about ten full trainings
    summary = run_search(surrogate, strategy=name, budget=budget, seed=0)  # defaults alone
    assert summary["benchmark"] == "nb301" and summary["index"] is None
    assert summary["cost"] <= budget and summary["test_acc"] is None
    arch = SPACE.parse(summary["arch"])
    assert SPACE.format(arch) == summary["arch"]
    if summary["val_acc"] is not None:
        assert 85.0 < summary["val_acc"] < 95.5  # NB301's range at 12 to 98 epochs


def test_a_darts_proxy_table_is_the_low_fidelity_of_its_sample(surrogate, darts_table, tmp_path):
    with darts_table(tmp_path / "t.db") as table:
        proxies = sample_proxies(table)
    sample = seeded_sample(SPACE, 40, seed=4)
    assert proxies.archs == tuple(sample) and proxies.names == ("nwot",)
    served = NB301Evaluator(surrogate, proxies)
    low = Fidelity(proxies=("nwot", "params"))
    result = served.evaluate(sample[7], low)
    assert result.metrics["nwot"] == 7.0 and result.cost == served.expected_cost(sample[7], low)
    assert result.cost == 0.5  # the measured seconds; the analytic size is free
    assert result.metrics["params"] == pytest.approx(served.network_size(sample[7])[0])
    with pytest.raises(FidelityError, match=r"has no nwot score for .* first 40 genotypes"):
        served.evaluate(_sample(1, seed=99)[0], low)
    assert served.ladder.low == Fidelity(proxies=("nwot",))
    assert served.ladder.params["pmf"] | {"pool": 40, "pool_seed": 4} == served.ladder.params["pmf"]
    assert served.describe()["proxy_table"] == str(tmp_path / "t.db")
    with pytest.raises(FidelityError, match="served: params, flops;"):
        NB301Evaluator(surrogate).evaluate(sample[0], low)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"data": "digits"}, "not a DARTS proxy table of cifar10"),
        ({"space": "nb201"}, "not a DARTS proxy table of cifar10"),
        ({"sample": "0123456789abcdef"}, "genotypes of another sampler"),
    ],
)
def test_a_proxy_table_the_surrogate_cannot_use_is_refused(darts_table, tmp_path, changes, message):
    with (
        darts_table(tmp_path / "t.db", count=2, **changes) as table,
        pytest.raises(ConfigError, match=message),
    ):
        sample_proxies(table)


def test_a_proxy_table_with_gaps_is_refused(darts_table, tmp_path):
    with darts_table(tmp_path / "t.db", count=3) as table:
        table.put(5, {"nwot": (5.0, 0.5)})  # keys 3 and 4 were never computed
        with pytest.raises(ConfigError, match="lacks nwot for 2 of its first 6 genotypes"):
            sample_proxies(table)


def test_pmf_ranks_the_tables_sample_by_its_measured_proxies(surrogate, darts_table, tmp_path):
    with darts_table(tmp_path / "t.db", count=60) as table:
        proxies = sample_proxies(table)
    summary = run_search(surrogate, strategy="pmf", budget=60_000.0, proxies=proxies)
    assert summary["trials"]["proxy:nwot"] == 60  # the whole sample, each once
    assert summary["benchmark"] == "nb301"
