"""The operators of a space whose architectures are a tuple of categorical choices.

NAS-Bench-201 chooses one of 5 operations on each of 6 edges; a chain of layers chooses one op per
layer. Such spaces sample, mutate, cross over, list neighbours and encode the same way, so a space
of one's own inherits them from :class:`ChoiceOperators` instead of writing them again.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pmfnas.types import Arch


class ChoiceOperators:
    """Operators over tuples of ``positions`` choices, each one of ``options`` (``0..options-1``).

    Every operator is a pure function of its arguments and ``rng``, as strategies need.
    """

    positions: ClassVar[int]
    options: ClassVar[int]

    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random choice at every position."""
        return tuple(int(op) for op in rng.integers(0, self.options, size=self.positions))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one uniformly chosen position to a different, uniformly chosen option."""
        position = int(rng.integers(self.positions))
        op = int(rng.integers(self.options - 1))
        op += op >= arch[position]  # skip the current option
        return (*arch[:position], op, *arch[position + 1 :])

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Uniform crossover: each position comes from ``a`` or ``b`` with probability 1/2."""
        pick = rng.random(self.positions) < 0.5
        return tuple(x if p else y for x, y, p in zip(a, b, pick, strict=True))

    def neighbours(self, arch: Arch) -> list[Arch]:
        """The architectures that differ from ``arch`` at exactly one position."""
        return [
            (*arch[:position], op, *arch[position + 1 :])
            for position in range(self.positions)
            for op in range(self.options)
            if op != arch[position]
        ]

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot encoding, ``positions × options`` floats: the usual input of predictors."""
        out = np.zeros((self.positions, self.options), dtype=np.float32)
        out[np.arange(self.positions), list(arch)] = 1.0
        return out.ravel()
