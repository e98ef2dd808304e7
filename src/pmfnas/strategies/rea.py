"""Regularized evolution (REA; Real et al., AAAI 2019): tournament selection with ageing."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.spaces.base import SearchSpace
from pmfnas.strategies.base import SERIAL, STRATEGIES, AskContext, BaseStrategy
from pmfnas.types import Arch, Request, Trial

MAX_REDRAWS = 100
"""Mutations drawn before a child not in flight is given up for a random architecture."""


@STRATEGIES.register("rea")
class RegularizedEvolution(BaseStrategy):
    """Regularized evolution: keep a queue of the ``population`` most recent models and mutate
    the best of a random sample; the oldest model leaves.

    The first ``population`` evaluations are random architectures. Afterwards each step draws
    ``sample_size`` members uniformly without replacement, mutates the one with the best
    validation accuracy (one edge changed) and evaluates the child; the child joins the queue and
    the oldest member leaves (ageing: a lucky early model cannot dominate forever).

    With several workers it is asynchronous, as Real et al. ran it: each ask mutates the best
    of a sample of the models told so far (a random architecture while none is), and a model
    joins the queue when its result arrives.

    Defaults follow the NAS-Bench-201 / Syne Tune setup the peers were measured with: population
    10, sample size 10, and the ladder's single-fidelity signal (there the 12-epoch one). Real et
    al. used 100 and 25 on a larger space.

    Args:
        population: models kept in the queue, the oldest leaving first.
        sample_size: members drawn per step, of which the best is mutated.
        fidelity: the fidelity of every evaluation (default: the evaluator's single-fidelity
            one, on NAS-Bench-201 epochs=12).
    """

    name = "rea"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        population: int = 10,
        sample_size: int = 10,
        fidelity: str | None = None,
        *,
        ladder: Ladder | None = None,
    ) -> None:
        super().__init__(space, seed, ladder=ladder)
        if population < 1 or not 1 <= sample_size <= population:
            raise ConfigError(
                f"REA needs population >= 1 and 1 <= sample_size <= population, "
                f"got {population} and {sample_size}"
            )
        self.population_size = population
        self.sample_size = sample_size
        self.fidelity = self.fidelity_of("single", fidelity, "fidelity")
        self._rng = np.random.default_rng(seed)
        self._population: deque[Trial] = deque()
        self._asked = 0

    def ask(self, context: AskContext = SERIAL) -> Request:
        self._asked += 1
        busy = context.busy(self.fidelity)
        if self._asked <= self.population_size or not self._population:
            return Request(
                self._sample(busy), self.fidelity, "initial population", {"origin": "sampled"}
            )
        members = list(self._population)
        picks = self._rng.choice(
            len(members), size=min(self.sample_size, len(members)), replace=False
        )
        parent = max((members[i] for i in picks), key=lambda t: t.val_acc)
        for _ in range(MAX_REDRAWS):
            child = self.space.mutate(parent.arch, self._rng)
            if child not in busy:
                return Request(
                    child,
                    self.fidelity,
                    reason=f"mutation of trial {parent.number}",
                    info={"origin": "mutation", "parents": [parent.number]},
                )
        reason = "random: every mutation drawn is in flight"
        return Request(self._sample(busy), self.fidelity, reason, {"origin": "sampled"})

    def _sample(self, busy: set[Arch]) -> Arch:
        """A random architecture not in flight."""
        while (arch := self.space.sample(self._rng)) in busy:
            pass
        return arch

    def tell(self, trial: Trial) -> None:
        if not trial.measured:
            return  # a failed evaluation joins nothing
        self._population.append(trial)
        if len(self._population) > self.population_size:
            self._population.popleft()

    def params(self) -> dict[str, Any]:
        return {
            "population": self.population_size,
            "sample_size": self.sample_size,
            "fidelity": str(self.fidelity),
        }
