"""The Competitive Swarm Optimizer's generation: who moves, where to, and determinism."""

from __future__ import annotations

import numpy as np

from pmfnas.oneshot.cso import compete


def swarm(m: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, 3, 2)), np.zeros((m, 3, 2)), rng.random(m)


def test_in_each_pair_the_winner_passes_and_the_loser_moves() -> None:
    x, v, fitness = swarm()
    new_x, new_v, losers = compete(x, v, fitness, np.random.default_rng(1))
    assert len(losers) == 3
    winners = sorted(set(range(6)) - set(losers.tolist()))
    np.testing.assert_array_equal(new_x[winners], x[winners])
    assert all(not np.array_equal(new_x[i], x[i]) for i in losers)
    np.testing.assert_array_equal(new_x[losers], x[losers] + new_v[losers])


def test_the_loser_is_the_less_fit_of_its_pair() -> None:
    x, v, _ = swarm(2)
    _, _, losers = compete(x, v, np.array([0.9, 0.1]), np.random.default_rng(0))
    assert losers.tolist() == [1]


def test_a_loser_without_momentum_or_mean_term_moves_toward_its_winner() -> None:
    """V=0 and phi=0: X_l + R2 (X_w - X_l) lies between X_l and X_w in every dimension."""
    x, v, _ = swarm(2)
    new_x, _, _ = compete(x, v, np.array([1.0, 0.0]), np.random.default_rng(3), phi=0.0)
    low, high = np.minimum(x[0], x[1]), np.maximum(x[0], x[1])
    assert np.all((low <= new_x[1]) & (new_x[1] <= high))


def test_a_swarm_at_one_point_stays_there() -> None:
    x = np.ones((4, 3, 2))
    new_x, new_v, _ = compete(x, np.zeros_like(x), np.arange(4.0), np.random.default_rng(0), 0.5)
    np.testing.assert_array_equal(new_x, x)
    np.testing.assert_array_equal(new_v, 0)


def test_an_odd_particle_passes_and_the_inputs_are_left_alone() -> None:
    x, v, fitness = swarm(5)
    before = x.copy()
    _, _, losers = compete(x, v, fitness, np.random.default_rng(0))
    assert len(losers) == 2
    np.testing.assert_array_equal(x, before)


def test_same_seed_same_generation() -> None:
    x, v, fitness = swarm()
    a = compete(x, v, fitness, np.random.default_rng(7), 0.1)
    b = compete(x, v, fitness, np.random.default_rng(7), 0.1)
    c = compete(x, v, fitness, np.random.default_rng(8), 0.1)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[0], c[0])
