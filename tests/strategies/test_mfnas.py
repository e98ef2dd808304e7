"""MFNAS: operators, population rules, fitness, the final pick, budget accounting (its
determinism and replay: test_contract.py)."""

import numpy as np
import pytest

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.costs import all_params_and_flops
from pmfnas.strategies import create_strategy
from pmfnas.strategies.mfnas import MFNAS
from pmfnas.study import Study
from pmfnas.types import Fidelity, Result, Trial, TrialState

SPACE = NB201Space()
CONV3 = 3


class ProxyToy:
    """Proxy scores with a known optimum: 'big' counts 3x3 convs (+ size), 'flat' only convs."""

    budget_unit = "simulated"

    def describe(self):
        return {"benchmark": "proxy-toy"}

    def expected_cost(self, arch, fidelity):
        return 0.25

    def evaluate(self, arch, fidelity, limit=None):
        convs = arch.count(CONV3)
        scores = {"big": 10.0 * convs + sum(arch), "flat": float(convs)}
        return Result(metrics={p: scores[p] for p in fidelity.proxies}, cost=0.25)

    def observe(self, trial):
        pass

    def test_accuracy(self, arch):
        return float(arch.count(CONV3))


def mfnas(**params):
    defaults = {"population": 20, "sample_size": 5, "steps": 30, "proxies": "big,flat"}
    return create_strategy("mfnas", SPACE, seed=params.pop("seed", 0), **{**defaults, **params})


def trial(number, arch, big, flat, reason="initial population"):
    return Trial(
        number, arch, Fidelity(proxies=("big", "flat")), TrialState.COMPLETE,
        {"big": big, "flat": flat}, 0.25, 0.25 * (number + 1), reason=reason,
    )  # fmt: skip


def test_fitness_normalises_each_proxy_by_its_population_maximum():
    strategy = mfnas()
    members = [trial(0, (0,) * 6, 100.0, 1.0), trial(1, (1,) * 6, 50.0, 4.0)]
    assert strategy.fitness(members) == pytest.approx([1.0 + 0.25, 0.5 + 1.0])


def test_final_pick_is_the_best_first_proxy_among_the_top_by_fitness():
    strategy = mfnas(final_top=2)
    members = [
        trial(0, (0,) * 6, 100.0, 0.0),  # fitness 1.0
        trial(1, (1,) * 6, 80.0, 2.0),  # fitness 0.8 + 0.5 = 1.3
        trial(2, (2,) * 6, 60.0, 4.0),  # fitness 0.6 + 1.0 = 1.6
    ]
    # the top two by fitness are trials 2 and 1; of those, trial 1 has the larger 'big'
    assert strategy.best(members).number == 1


def test_a_search_finds_the_toy_optimum_at_proxy_cost():
    strategy = mfnas(steps=60)
    result = Study(SPACE, ProxyToy(), strategy, budget=1e9).run()
    assert result.stop_reason == "strategy finished: all 60 evolution steps done"
    assert result.best.arch.count(CONV3) == 6
    assert result.spent == pytest.approx(
        0.25 * sum(t.state is TrialState.COMPLETE for t in result.trials)
    )
    initial = result.trials[:20]
    assert len({t.arch for t in initial}) == 20 and all(
        t.reason == "initial population" for t in initial
    )


def test_each_step_asks_at_most_nine_new_children_and_keeps_the_population_size():
    strategy = mfnas(steps=10)
    result = Study(SPACE, ProxyToy(), strategy, budget=1e9).run()
    steps = [int(t.reason.split(":")[0].removeprefix("step ")) for t in result.trials[20:]]
    assert max(np.bincount(steps)) <= 2 * 4 + 1
    assert len(strategy._population) == 20
    assert len({t.arch for t in strategy._population}) == 20  # duplicates were dropped


def test_children_are_one_edge_mutations_or_crossovers_of_members():
    strategy = mfnas(steps=5)
    result = Study(SPACE, ProxyToy(), strategy, budget=1e9).run()
    by_number = {t.number: t for t in result.trials}
    assert {t.info["origin"] for t in result.trials[:20]} == {"sampled"}
    for child in result.trials[20:]:
        parents = [by_number[n].arch for n in child.info["parents"]]
        assert child.info["origin"] in child.reason  # the words say what the data says
        if child.info["origin"] == "mutation":
            assert sum(a != b for a, b in zip(child.arch, parents[0], strict=True)) == 1
        else:
            assert all(c in (a, b) for c, a, b in zip(child.arch, *parents, strict=True))


def test_limits_keep_every_evaluated_architecture_feasible():
    """The limits count the networks as the evaluator says (here NB201's on CIFAR-100)."""
    params, flops = all_params_and_flops(100, 32)
    sizes = Ladder(network_size=lambda arch: (params[SPACE.index(arch)], flops[SPACE.index(arch)]))
    limit = float(np.median(params))
    strategy = mfnas(max_params=limit, ladder=sizes)
    result = Study(SPACE, ProxyToy(), strategy, budget=1e9).run()
    assert all(params[SPACE.index(t.arch)] <= limit for t in result.trials)
    with pytest.raises(ConfigError, match="too tight"):
        Study(SPACE, ProxyToy(), mfnas(max_params=0.001, ladder=sizes), budget=10).run()
    with pytest.raises(ConfigError, match="counts its networks' sizes"):
        mfnas(max_flops=100.0)  # no ladder: nothing counts the networks


def test_anytime_pick_uses_the_population_of_the_time():
    strategy = mfnas(steps=20)
    result = Study(SPACE, ProxyToy(), strategy, budget=1e9).run()
    early = strategy.best(result.trials[:20])  # the initial population only
    assert early in result.trials[:20]
    assert strategy.best(result.trials[:3]) in result.trials[:3]
    assert strategy.best([]) is None


@pytest.mark.parametrize("bad", [{"sample_size": 1}, {"sample_size": 30}, {"final_top": 0}])
def test_bad_parameters(bad):
    with pytest.raises(ConfigError):
        mfnas(**bad)


def test_registered():
    assert isinstance(mfnas(), MFNAS)
