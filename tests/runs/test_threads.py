"""The default torch thread count: chosen by network size, the same on every machine with
enough cores (benchmarks/threads.py measured the rule)."""

import pytest

from pmfnas.data import load_dataset
from pmfnas.errors import ConfigError
from pmfnas.runs import profiles
from pmfnas.runs.profiles import (
    MAX_THREADS,
    THREADS_FROM_MFLOPS,
    default_threads,
    recipe_threads,
    training_recipe,
    use_threads,
)
from pmfnas.spaces.nb201 import NB201Space


def test_small_networks_train_on_one_thread():
    digits = load_dataset("digits", split="holdout")
    assert recipe_threads(NB201Space(), digits, training_recipe("digits")) == 1
    assert default_threads(0.0) == default_threads(THREADS_FROM_MFLOPS * 0.99) == 1


@pytest.mark.parametrize(("cores", "threads"), [(64, MAX_THREADS), (1, 1), (None, 1)])
def test_large_networks_get_more_threads_up_to_the_measured_most(monkeypatch, cores, threads):
    monkeypatch.setattr(profiles.os, "cpu_count", lambda: cores)
    assert default_threads(THREADS_FROM_MFLOPS) == threads


def test_a_thread_count_below_one_is_refused():
    with pytest.raises(ConfigError, match="threads must be at least 1, got 0"):
        use_threads(0)
