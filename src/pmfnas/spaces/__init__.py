"""Search spaces, registered by name: ``create_space("nb201")``.

A space of one's own is a class with the methods of :class:`SearchSpace` (and those of
:class:`EnumerableSpace` if it can be indexed), registered with ``@SPACES.register("name")``;
studies store the space's name, and everything that reads a study rebuilds it from there. One
whose architectures are a tuple of choices inherits its operators from
:class:`~pmfnas.spaces.choices.ChoiceOperators` (docs/own_space.md).
"""

from pmfnas.spaces import darts, nb201
from pmfnas.spaces.base import (
    DEFAULT_SPACE,
    SPACES,
    EnumerableSpace,
    SearchSpace,
    create_space,
    index_or_none,
    require_enumerable,
    sample_fingerprint,
    seeded_sample,
)
from pmfnas.spaces.darts import DartsSpace
from pmfnas.spaces.nb201 import NB201Space

__all__ = [
    "DEFAULT_SPACE",
    "SPACES",
    "DartsSpace",
    "EnumerableSpace",
    "NB201Space",
    "SearchSpace",
    "create_space",
    "darts",
    "index_or_none",
    "nb201",
    "require_enumerable",
    "sample_fingerprint",
    "seeded_sample",
]
