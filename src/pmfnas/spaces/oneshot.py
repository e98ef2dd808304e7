"""What a space offers to one-shot (weight-sharing) search: a supernet and the α that steers it.

One-shot methods keep architecture parameters α (one row of logits per choice point, one column
per candidate operation), train one supernet whose forward pass takes edge weights and/or a path,
and read a cell back from α. A space that offers this is a :class:`OneShotSpace`; the methods ask
:func:`require_oneshot` for it, so that another space is refused with one clear line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.spaces.base import SearchSpace
from pmfnas.types import Arch

if TYPE_CHECKING:
    from torch import nn


@runtime_checkable
class OneShotSpace(SearchSpace, Protocol):
    """A search space with a weight-sharing supernet."""

    candidates: tuple[str, ...]
    """The operations of each choice point: α's columns, in order."""
    choice_points: int
    """α's rows (NB201: its 6 edges)."""
    parameter_free: frozenset[str]
    """The candidates without weights, whose dominance is the sign of a collapsing search."""

    def supernet(
        self, *, channels: int, cells_per_stage: int, num_classes: int, input_channels: int
    ) -> nn.Module:
        """The supernet, called as ``net(x, weights=None, path=None)``: ``weights`` a
        (choice points x candidates) tensor, ``path`` one candidate index per choice point."""
        ...

    def derive(self, alpha: np.ndarray) -> Arch:
        """The architecture α selects (its discretisation rule)."""
        ...

    def path(self, arch: Arch) -> tuple[int, ...]:
        """The candidate index per choice point that runs ``arch`` in the supernet."""
        ...

    def collapse_ops(self, arch: Arch) -> list[str]:
        """The operations of ``arch`` whose parameter-free share shows a collapsing search
        (NB201: its six edges; DARTS: the normal cell's eight, where skip connections pile up)."""
        ...


def require_oneshot(space: SearchSpace, who: str) -> OneShotSpace:
    """``space`` if it has a supernet, else a :class:`ConfigError` naming ``who`` needs one."""
    if not isinstance(space, OneShotSpace):
        raise ConfigError(f"{who} needs a search space with a supernet; {space.name!r} has none")
    return space


def parameter_free_share(space: OneShotSpace, arch: Arch) -> float:
    """The share of ``arch``'s operations (:meth:`OneShotSpace.collapse_ops`) without weights:
    the sign of a collapsing one-shot search."""
    names = space.collapse_ops(arch)
    return sum(name in space.parameter_free for name in names) / len(names)


def random_parameter_free_share(space: OneShotSpace, samples: int = 1000) -> float:
    """The parameter-free share of a random architecture of ``space``: its mean over
    ``samples`` draws of ``space.sample`` from a generator seeded with 0 (about 3/5 in NB201,
    3/7 in the DARTS space: the shares of their operations without weights)."""
    rng = np.random.default_rng(0)
    return float(np.mean([parameter_free_share(space, space.sample(rng)) for _ in range(samples)]))
