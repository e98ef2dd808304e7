import numpy as np
import pytest

from pmfnas.errors import ConfigError, RegistryError
from pmfnas.spaces import EnumerableSpace, SearchSpace, seeded_sample
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.strategies import STRATEGIES, create_strategy
from pmfnas.strategies.pmf.pool import Pool
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


def test_rea_beats_random_on_the_toy_problem(ladder, toy_evaluator):
    space = NB201Space()

    def mean_best(name):
        scores = []
        for seed in range(10):
            strategy = create_strategy(name, space, seed=seed, ladder=ladder)
            result = Study(space, toy_evaluator(), strategy, 12.0 * 150).run()
            scores.append(result.best.val_acc)
        return np.mean(scores)

    assert mean_best("rea") > mean_best("random")


# ---------------------------------------------------------------- fidelities from the ladder

NB201_FIDELITIES = {
    "random": {"fidelity": "epochs=12"},
    "rea": {"fidelity": "epochs=12"},
    "sh": {"rungs": "proxy:meco,synflow;epochs=12;epochs=200"},
    "hyperband": {"rungs": "proxy:meco,synflow;epochs=12;epochs=200"},
    "pmf": {"low": "proxy:meco,synflow", "medium": "epochs=12", "high": "epochs=200"},
}
"""What studies on NB201 stored as their strategies' fidelities before strategies took them from
the evaluator's ladder: stored configs must stay the same, or old storage files do not resume."""

USERS_FIDELITIES = {
    "random": {"fidelity": "epochs=200"},
    "rea": {"fidelity": "epochs=200"},
    "sh": {"rungs": "epochs=12;epochs=200"},
    "hyperband": {"rungs": "epochs=12;epochs=200"},
    "pmf": {"low": "none", "medium": "epochs=3", "high": "epochs=9"},
}


@pytest.mark.parametrize("name", sorted(NB201_FIDELITIES))
def test_fidelities_come_from_the_ladder_unless_the_parameters_name_them(name, ladder):
    space = NB201Space()
    params = create_strategy(name, space, ladder=ladder).params()
    assert {key: params[key] for key in NB201_FIDELITIES[name]} == NB201_FIDELITIES[name]
    assert create_strategy(name, space, **params).params() == params  # a stored study's rebuild
    own = create_strategy(name, space, ladder=ladder, **USERS_FIDELITIES[name]).params()
    assert {key: own[key] for key in USERS_FIDELITIES[name]} == USERS_FIDELITIES[name]
    with pytest.raises(ConfigError, match=f"{name} needs"):
        create_strategy(name, space)  # neither the parameters nor an evaluator name one


# ---------------------------------------------------------------- spaces too large to enumerate

BITS = 40


class BitSpace:
    """2^40 bit strings: a search space with every operator but no size, index or iteration."""

    name = "bits"

    def parse(self, text):
        return tuple(int(c) for c in text)

    def format(self, arch):
        return "".join(map(str, arch))

    resolve = parse

    def sample(self, rng):
        return tuple(int(b) for b in rng.integers(0, 2, size=BITS))

    def mutate(self, arch, rng):
        return self._flip(arch, int(rng.integers(BITS)))

    def crossover(self, a, b, rng):
        return tuple(x if p else y for x, y, p in zip(a, b, rng.random(BITS) < 0.5, strict=True))

    def neighbours(self, arch):
        return [self._flip(arch, i) for i in range(BITS)]

    def encode(self, arch):
        return np.array(arch, dtype=np.float32)

    def network(self, arch, **size):
        raise NotImplementedError

    def check_buildable(self, data, channels, cells_per_stage, resolution=0):
        raise NotImplementedError

    def forward_flops(self, arch, **size):
        raise NotImplementedError

    def typical(self):
        return (0,) * BITS

    @staticmethod
    def _flip(arch, i):
        return (*arch[:i], 1 - arch[i], *arch[i + 1 :])


def test_the_bit_space_is_a_search_space_that_cannot_be_enumerated():
    assert isinstance(BitSpace(), SearchSpace) and not isinstance(BitSpace(), EnumerableSpace)


@pytest.mark.parametrize("name", ["random", "rea", "sh", "hyperband", "mfnas", "pmf"])
def test_strategies_search_a_space_too_large_to_enumerate(name, ladder, toy_evaluator):
    space = BitSpace()
    strategy = create_strategy(name, space, seed=0, ladder=ladder)
    result = Study(space, toy_evaluator(), strategy, 300.0).run()
    assert result.best is not None and result.spent <= 300.0
    assert all(len(t.arch) == BITS for t in result.trials)
    assert len({t.arch for t in result.trials}) > 5


def test_pmf_ranks_a_seeded_pool_of_a_space_too_large_and_grows_it_by_neighbourhoods(
    ladder, toy_evaluator
):
    space = BitSpace()
    strategy = create_strategy("pmf", space, seed=0, ladder=ladder, pool=300)
    result = Study(space, toy_evaluator(), strategy, 3000.0).run()
    start = Pool(space, 300, 0)  # the sample PMF starts from
    sample = {start.arch(i) for i in range(start.size)}
    proxies = [t for t in result.trials if t.fidelity.is_proxy]
    assert proxies and all(t.arch in sample for t in proxies)
    grown = [t for t in result.trials if t.arch not in sample]
    assert grown, "no neighbour outside the sample was searched"
    assert {t.info["origin"] for t in grown} <= {"regional search", "refinement", "promoted"}
    assert strategy.params()["pool"] == 300


def test_a_pool_seed_makes_pmfs_pool_the_seeded_sample_of_every_search_seed(ladder, toy_evaluator):
    space = BitSpace()
    table = seeded_sample(space, 200, seed=7)  # the keys of a proxy table made with seed 7
    assert [Pool(space, 200, 0, sample_seed=7).arch(i) for i in range(200)] == table
    for seed in (0, 1):
        strategy = create_strategy("pmf", space, seed=seed, ladder=ladder, pool=200, pool_seed=7)
        result = Study(space, toy_evaluator(), strategy, 3000.0).run()
        assert {t.arch for t in result.trials if t.fidelity.is_proxy} <= set(table)
    own = Pool(space, 200, 0)
    assert [own.arch(i) for i in range(200)] != table  # without it, each seed draws its own
    with pytest.raises(ConfigError, match="seed must be an integer"):
        create_strategy("pmf", space, seed=0, ladder=ladder, pool_seed=-1)
