"""Search strategies (ask/tell), registered by name in ``STRATEGIES``."""

from pmfnas.strategies import halving, mfnas, pmf, random_search, rea
from pmfnas.strategies.base import STRATEGIES, BaseStrategy, create_strategy, strategy_from

__all__ = [
    "STRATEGIES",
    "BaseStrategy",
    "create_strategy",
    "halving",
    "mfnas",
    "pmf",
    "random_search",
    "rea",
    "strategy_from",
]
