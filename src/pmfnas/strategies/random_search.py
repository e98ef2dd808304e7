"""Random search: the baseline every NAS method must beat."""

from __future__ import annotations

from typing import Any

import numpy as np

from pmfnas.spaces.base import SearchSpace
from pmfnas.strategies.base import STRATEGIES, BaseStrategy
from pmfnas.types import Fidelity, Request, Trial


@STRATEGIES.register("random")
class RandomSearch(BaseStrategy):
    """Evaluate uniformly sampled, not yet seen architectures at one fidelity.

    Args:
        fidelity: the fidelity of every evaluation (default ``epochs=12``, the NAS-Bench-201
            protocol's search signal).
    """

    name = "random"

    def __init__(self, space: SearchSpace, seed: int = 0, fidelity: str = "epochs=12") -> None:
        super().__init__(space, seed)
        self.fidelity = Fidelity.parse(fidelity)
        self._rng = np.random.default_rng(seed)
        self._seen: set[tuple[int, ...]] = set()

    def ask(self) -> Request | None:
        if len(self._seen) >= self.space.size:
            return None
        while (arch := self.space.sample(self._rng)) in self._seen:
            pass
        self._seen.add(arch)
        return Request(arch, self.fidelity, reason="random sample")

    def tell(self, trial: Trial) -> None:
        self._seen.add(trial.arch)

    def params(self) -> dict[str, Any]:
        return {"fidelity": str(self.fidelity)}
