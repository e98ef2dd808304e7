"""Search spaces: the discrete sets of architectures a strategy explores."""

from pmfnas.spaces.base import SearchSpace
from pmfnas.spaces.nb201 import NB201Space

__all__ = ["NB201Space", "SearchSpace"]
