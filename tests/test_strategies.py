import numpy as np
import pytest
from toy import ToyEvaluator

from pmfnas.errors import ConfigError, RegistryError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.strategies import STRATEGIES, create_strategy
from pmfnas.study import Study
from pmfnas.types import Fidelity, Trial, TrialState


def _trial(number, arch, acc):
    return Trial(number, arch, Fidelity(epochs=12), TrialState.COMPLETE, {"val_acc": acc}, 1.0, 1.0)


def test_registry_lists_baselines_and_rejects_unknown():
    assert {"random", "rea"} <= set(STRATEGIES.names())
    with pytest.raises(RegistryError, match="unknown strategy 'nope'"):
        create_strategy("nope", NB201Space())
    with pytest.raises(ConfigError):
        create_strategy("rea", NB201Space(), colour="blue")
    with pytest.raises(ConfigError):
        create_strategy("rea", NB201Space(), population=5, sample_size=6)


def test_random_search_never_repeats(ladder):
    space = NB201Space()
    strategy = create_strategy("random", space, seed=0, ladder=ladder)
    archs = [strategy.ask().arch for _ in range(3000)]
    assert len(set(archs)) == 3000


def test_rea_starts_random_then_mutates_the_tournament_winner(ladder):
    space = NB201Space()
    rea = create_strategy("rea", space, seed=0, population=3, sample_size=3, ladder=ladder)
    parents = [rea.ask() for _ in range(3)]
    assert all(r.reason == "initial population" for r in parents)
    for n, (req, acc) in enumerate(zip(parents, (80.0, 90.0, 70.0), strict=True)):
        rea.tell(_trial(n, req.arch, acc))
    child = rea.ask()
    best = parents[1].arch
    assert child.reason == "mutation of trial 1"
    assert sum(a != b for a, b in zip(child.arch, best, strict=True)) == 1


def test_rea_ages_out_the_oldest(ladder):
    space = NB201Space()
    rea = create_strategy("rea", space, seed=0, population=2, sample_size=2, ladder=ladder)
    cells = [(0,) * 6, (1,) * 6, (2,) * 6]
    for n, cell in enumerate(cells):
        rea.ask()
        rea.tell(_trial(n, cell, 99.0 if n == 0 else 50.0 + n))
    # the excellent first member has aged out: the parent is now the best of trials 1 and 2
    assert rea.ask().reason == "mutation of trial 2"


def test_rea_beats_random_on_the_toy_problem(ladder):
    space = NB201Space()

    def mean_best(name):
        scores = []
        for seed in range(10):
            strategy = create_strategy(name, space, seed=seed, ladder=ladder)
            result = Study(space, ToyEvaluator(), strategy, 12.0 * 150).run()
            scores.append(result.best.val_acc)
        return np.mean(scores)

    assert mean_best("rea") > mean_best("random")
