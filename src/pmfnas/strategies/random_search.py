"""Random search: the baseline every NAS method must beat."""

from __future__ import annotations

from typing import Any

import numpy as np

from pmfnas.evaluators.base import Ladder
from pmfnas.spaces.base import EnumerableSpace, SearchSpace
from pmfnas.strategies.base import SERIAL, STRATEGIES, AskContext, BaseStrategy
from pmfnas.types import Request, Trial


@STRATEGIES.register("random")
class RandomSearch(BaseStrategy):
    """Evaluate uniformly sampled, not yet seen architectures at one fidelity.

    Works on any space; on an enumerable one it stops when every architecture has been seen.
    Asynchronous as it is: an architecture counts as seen once asked, so none in flight is
    drawn again.

    Args:
        fidelity: the fidelity of every evaluation (default: the evaluator's single-fidelity
            one, on NAS-Bench-201 epochs=12, the protocol's search signal).
    """

    name = "random"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        fidelity: str | None = None,
        *,
        ladder: Ladder | None = None,
    ) -> None:
        super().__init__(space, seed, ladder=ladder)
        self.fidelity = self.fidelity_of("single", fidelity, "fidelity")
        self._rng = np.random.default_rng(seed)
        self._seen: set[tuple[int, ...]] = set()
        self._size = space.size if isinstance(space, EnumerableSpace) else None

    def ask(self, context: AskContext = SERIAL) -> Request | None:
        if self._size is not None and len(self._seen) >= self._size:
            self.finished_because = f"all {self._size:,} architectures of the space evaluated"
            return None
        while (arch := self.space.sample(self._rng)) in self._seen:
            pass
        self._seen.add(arch)
        return Request(arch, self.fidelity, reason="random sample", info={"origin": "sampled"})

    def tell(self, trial: Trial) -> None:
        self._seen.add(trial.arch)

    def params(self) -> dict[str, Any]:
        return {"fidelity": str(self.fidelity)}
