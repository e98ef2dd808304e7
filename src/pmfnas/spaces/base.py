"""The interfaces a search space offers: what every space has, and what an enumerable one adds.

A strategy that only samples, mutates and crosses over architectures works on any
:class:`SearchSpace`; one that keeps arrays over the whole space (PMF's global exploration) needs
an :class:`EnumerableSpace` and asks :func:`require_enumerable` for it, so that a space too large
to iterate is refused with one clear line instead of an out-of-memory error.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from pmfnas.errors import ConfigError, RegistryError
from pmfnas.registry import Registry
from pmfnas.types import Arch, check_seed

if TYPE_CHECKING:
    from torch import nn

    from pmfnas.data import ImageDataset


@runtime_checkable
class SearchSpace(Protocol):
    """What a strategy, an evaluator and the report may do with architectures without knowing
    the space's internals. Every operator is a pure function of its arguments and ``rng``."""

    name: str

    def parse(self, text: str) -> Arch:
        """The architecture of its canonical text; anything else is an ``ArchitectureError``."""
        ...

    def format(self, arch: Arch) -> str:
        """The canonical text of ``arch``, as stored and shown."""
        ...

    def resolve(self, text: str) -> Arch:
        """A user's architecture: the canonical text, or any shorthand the space accepts."""
        ...

    def sample(self, rng: np.random.Generator) -> Arch: ...
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch: ...
    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch: ...
    def neighbours(self, arch: Arch) -> list[Arch]: ...

    def encode(self, arch: Arch) -> np.ndarray:
        """A fixed-length float vector of ``arch``, the input of predictors."""
        ...

    def network(
        self,
        arch: Arch,
        *,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        input_channels: int,
    ) -> nn.Module:
        """The trainable torch network of ``arch`` at this width and depth (imports torch)."""
        ...

    def check_buildable(
        self, data: ImageDataset, channels: int, cells_per_stage: int, resolution: int = 0
    ) -> None:
        """A ``ConfigError``, before any work, unless networks of this size can be built for
        ``data`` (its classes, channels and image size, or ``resolution`` if resized)."""
        ...

    def forward_flops(
        self,
        arch: Arch,
        *,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        input_size: int,
        input_channels: int,
    ) -> float:
        """FLOPs of one image's forward pass through the network of ``arch``: the unit of a
        compute budget, so it must not depend on the machine (count it, do not time it)."""
        ...

    def typical(self) -> Arch:
        """An architecture of median cost, which the real-training planner times to choose
        what a budget can afford."""
        ...


@runtime_checkable
class EnumerableSpace(SearchSpace, Protocol):
    """A space small enough to index and iterate (NAS-Bench-201's 15,625 cells)."""

    size: int

    def index(self, arch: Arch) -> int: ...
    def arch(self, index: int) -> Arch: ...
    def __iter__(self) -> Iterator[Arch]: ...


def require_enumerable(space: SearchSpace, who: str) -> EnumerableSpace:
    """``space`` if it is enumerable, else a :class:`ConfigError` naming ``who`` needs it."""
    if not isinstance(space, EnumerableSpace):
        raise ConfigError(
            f"{who} needs an enumerable search space (one it can index and iterate); "
            f"{space.name!r} is not"
        )
    return space


def index_or_none(space: SearchSpace, arch: Arch) -> int | None:
    """The index of ``arch`` where the space has indices (for summaries), else ``None``."""
    return space.index(arch) if isinstance(space, EnumerableSpace) else None


def seeded_sample(space: SearchSpace, count: int, seed: int) -> list[Arch]:
    """The first ``count`` distinct architectures ``space.sample`` draws from a NumPy generator
    seeded with ``seed``: how a table keyed by integers (a proxy table) names the architectures
    of a space too large to index, such as DARTS' (index i = the i-th of this list).

    The same seed gives the same list, and the draws are sequential, so a larger count extends
    the list of a smaller one: a table grown to more architectures keeps every row it has.
    """
    seed = check_seed(seed)
    if isinstance(space, EnumerableSpace) and count > space.size:
        raise ConfigError(f"{space.name} has {space.size} architectures, not {count}")
    return list(itertools.islice(distinct_samples(space, np.random.default_rng(seed)), count))


def distinct_samples(
    space: SearchSpace, rng: np.random.Generator, tries: int | None = None
) -> Iterator[Arch]:
    """The distinct architectures ``space.sample`` draws from ``rng``, in the order drawn,
    ending after ``tries`` draws (``None``: never; a small space then runs out of new ones)."""
    seen: set[Arch] = set()
    for _ in itertools.count() if tries is None else range(tries):
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            yield arch


FINGERPRINT_SAMPLE = 32
"""Architectures of a seeded sample that :func:`sample_fingerprint` digests."""


def sample_fingerprint(space: SearchSpace, seed: int) -> str:
    """A digest of the first :data:`FINGERPRINT_SAMPLE` architectures of
    :func:`seeded_sample`: a table keyed by positions in that sample records it, so that a
    sampler that draws otherwise (another version of the space) is caught when the table is
    opened instead of every key naming another architecture. It does not depend on the count,
    so a table may grow."""
    text = "\n".join(space.format(arch) for arch in seeded_sample(space, FINGERPRINT_SAMPLE, seed))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


SPACES: Registry[type[SearchSpace]] = Registry("search space")

DEFAULT_SPACE = "nb201"
"""The space of a search that names none."""


ENTRY_POINTS = "pmfnas.spaces"
"""The entry-point group where an installed package offers spaces: ``name = "module"``, a
module whose import registers the space ``name``."""


def create_space(name: str = DEFAULT_SPACE) -> SearchSpace:
    """The registered space called ``name``: pmfnas's own, or one a module imported before has
    registered (``pmfnas --plugin``), or one an installed package offers under the
    :data:`ENTRY_POINTS` group (imported now). An unknown name is a ``RegistryError`` that says
    how to make it known."""
    if name not in SPACES.names():
        for point in entry_points(group=ENTRY_POINTS, name=name):
            point.load()
    try:
        return SPACES.get(name)()
    except RegistryError as exc:
        raise RegistryError(
            f"{exc}; import the module that registers it first (pmfnas --plugin "
            "MODULE_OR_FILE.py COMMAND ...), or install a package that offers it as a "
            f"{ENTRY_POINTS!r} entry point"
        ) from None
