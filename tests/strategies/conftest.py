"""How the strategy tests build a strategy: in one place, so that what a strategy is given
besides its name, space, seed and parameters is decided here alone."""

from collections.abc import Callable
from typing import Any

import pytest

from pmfnas.evaluators.base import Evaluator
from pmfnas.spaces.base import SearchSpace
from pmfnas.strategies import BaseStrategy, create_strategy

MakeStrategy = Callable[..., BaseStrategy]


@pytest.fixture
def make_strategy() -> MakeStrategy:
    """``make_strategy(name, space, evaluator, seed, **params)``: the registered strategy
    ``name`` for a search of ``space`` on ``evaluator``."""

    def make(
        name: str, space: SearchSpace, evaluator: Evaluator, seed: int = 0, **params: Any
    ) -> BaseStrategy:
        return create_strategy(name, space, seed=seed, ladder=evaluator.ladder, **params)

    return make
