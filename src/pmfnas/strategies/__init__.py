"""Search strategies (ask/tell), registered by name in ``STRATEGIES``."""

from pmfnas.strategies import random_search, rea
from pmfnas.strategies.base import STRATEGIES, BaseStrategy, create_strategy

__all__ = ["STRATEGIES", "BaseStrategy", "create_strategy", "random_search", "rea"]
