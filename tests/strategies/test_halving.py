"""Successive halving and Hyperband: bracket sizes, promotions, ranking, the returned trial
(their budget and determinism: test_contract.py)."""

import pytest

from pmfnas.errors import ConfigError, FidelityError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.strategies import create_strategy
from pmfnas.strategies.halving import parse_ladder, rank_score
from pmfnas.study import Study
from pmfnas.types import Fidelity, Trial, TrialState

SPACE = NB201Space()
LADDER = "epochs=1;epochs=3;epochs=9"


@pytest.fixture
def run(toy_evaluator):
    """``run(name, budget, **params)``: a search on the toy evaluator that pays for repeats."""

    def search(name, budget, **params):
        toy = toy_evaluator()
        strategy = create_strategy(name, SPACE, ladder=toy.ladder, **params)
        return Study(SPACE, toy, strategy, budget, reuse=False).run()

    return search


def per_rung(trials, bracket):
    counts = {}
    for t in trials:
        if t.reason.startswith(f"bracket {bracket}:"):
            counts[str(t.fidelity)] = counts.get(str(t.fidelity), 0) + 1
    return counts


def test_successive_halving_keeps_a_third_per_rung(run):
    # one bracket: 9 at 1 epoch (9 s), 3 at 3 epochs (9 s), 1 at 9 epochs (9 s) = 27 s
    result = run("sh", 27, rungs=LADDER)
    assert per_rung(result.trials, 0) == {"epochs=1": 9, "epochs=3": 3, "epochs=9": 1}
    assert result.spent == 27


def test_promotions_take_the_best_of_the_rung_with_their_rank_as_reason(run):
    result = run("sh", 27, rungs=LADDER)
    first = [t for t in result.trials if t.fidelity == Fidelity(epochs=1)]
    second = [t for t in result.trials if t.fidelity == Fidelity(epochs=3)]
    best_three = sorted(first, key=lambda t: -t.val_acc)[:3]
    assert [t.arch for t in second] == [t.arch for t in best_three]
    assert second[0].reason == "bracket 0: promoted, rank 1 of 9 at epochs=1"


def test_hyperband_cycles_through_brackets_of_every_width(run):
    result = run("hyperband", 500, rungs=LADDER)
    assert per_rung(result.trials, 0) == {"epochs=1": 9, "epochs=3": 3, "epochs=9": 1}
    assert per_rung(result.trials, 1) == {"epochs=3": 5, "epochs=9": 1}  # ⌈3/2·3⌉ = 5
    assert per_rung(result.trials, 2) == {"epochs=9": 3}
    assert per_rung(result.trials, 3) == per_rung(result.trials, 0)  # the cycle restarts


def test_eta_sets_the_reduction(run):
    result = run("sh", 1000, rungs="epochs=1;epochs=9", eta=16)
    assert per_rung(result.trials, 0) == {"epochs=1": 16, "epochs=9": 1}


def test_proxy_rungs_rank_by_scale_free_proxy_sums():
    def trial(number, a, b):
        return Trial(number, (0,) * 6, Fidelity(proxies=("a", "b")), TrialState.COMPLETE,
                     {"a": a, "b": b}, 0.0, 0.0)  # fmt: skip

    scores = rank_score([trial(0, 100.0, 0.1), trial(1, 50.0, 0.2)], Fidelity(proxies=("a", "b")))
    assert scores == pytest.approx([1.5, 1.5])


def test_best_is_the_best_top_rung_result(run):
    result = run("sh", 54, rungs=LADDER)
    tops = [t for t in result.trials if t.fidelity == Fidelity(epochs=9)]
    assert len(tops) == 2 and result.best == max(tops, key=lambda t: t.val_acc)


@pytest.mark.parametrize(
    "ladder", ["epochs=12", "epochs=200;epochs=12", "epochs=12;proxy:nwot", "epochs=12;;epochs=200"]
)
def test_bad_ladders(ladder):
    with pytest.raises((ConfigError, FidelityError)):
        parse_ladder(ladder)


def test_bad_eta(ladder):
    with pytest.raises(ConfigError, match="eta must be > 1"):
        create_strategy("hyperband", SPACE, eta=1, ladder=ladder)
