"""The architectures PMF ranks, by number: all of an enumerable space, else a growing sample.

PMF keeps arrays over the cells it ranks (low scores, features, regions). On NAS-Bench-201 those
are the whole space, numbered by the space's own index. A space too large to enumerate (the
DARTS cells) is ranked over a large seeded sample instead, and the pool grows by the
neighbourhoods the search visits (the frontier of the best results, the refinements around a new
best), so that the regional search still walks the space one edge at a time.
"""

from __future__ import annotations

import itertools

import numpy as np

from pmfnas.spaces.base import EnumerableSpace, SearchSpace, distinct_samples
from pmfnas.types import Arch

_ENCODINGS: dict[tuple[str, int], np.ndarray] = {}


class Pool:
    """Numbered architectures of ``space``: all of it if enumerable, else ``sample`` distinct
    seeded samples to start with: drawn from the search's own ``seed`` stream, or with a
    ``sample_seed`` the first ``sample`` of :func:`~pmfnas.spaces.seeded_sample` of that seed
    (the keys of a proxy table made with it)."""

    def __init__(
        self, space: SearchSpace, sample: int, seed: int, sample_seed: int | None = None
    ) -> None:
        self.space = space
        self._whole = space if isinstance(space, EnumerableSpace) else None  # checked once: slow
        self._sample = sample
        self._stream = [seed, 3] if sample_seed is None else sample_seed
        self._archs: list[Arch] = []
        self._numbers: dict[Arch, int] = {}
        self._rows: list[np.ndarray] = []
        self._encoding: np.ndarray | None = None  # drawn when first needed

    def _draw(self) -> np.ndarray:
        if self._encoding is None:
            rng = np.random.default_rng(self._stream)
            # a space with fewer cells ends the draw early
            drawn = distinct_samples(self.space, rng, tries=100 * self._sample)
            for arch in itertools.islice(drawn, self._sample):
                self._add(arch)
            self._encoding = np.stack(self._rows)
        return self._encoding

    def _add(self, arch: Arch) -> int:
        if arch not in self._numbers:
            self._numbers[arch] = len(self._archs)
            self._archs.append(arch)
            self._rows.append(self.space.encode(arch))
        return self._numbers[arch]

    @property
    def grows(self) -> bool:
        """Whether the pool is a sample that grows (the space is not enumerable)."""
        return self._whole is None

    @property
    def size(self) -> int:
        if self._whole is not None:
            return self._whole.size
        self._draw()
        return len(self._archs)

    def arch(self, number: int) -> Arch:
        if self._whole is not None:
            return self._whole.arch(number)
        self._draw()
        return self._archs[number]

    def number(self, arch: Arch) -> int:
        """The number of ``arch``; one the pool does not hold yet joins it."""
        if self._whole is not None:
            return self._whole.index(arch)
        self._draw()
        return self._add(arch)

    @property
    def encoding(self) -> np.ndarray:
        """One encoding row per number (made once per process for an enumerable space)."""
        if (space := self._whole) is not None:
            key = (space.name, space.size)
            if key not in _ENCODINGS:
                _ENCODINGS[key] = np.stack([space.encode(space.arch(i)) for i in range(space.size)])
            return _ENCODINGS[key]
        encoding = self._draw()
        if len(self._rows) > len(encoding):
            encoding = self._encoding = np.vstack([encoding, *self._rows[len(encoding) :]])
        return encoding
