"""Successive halving and Hyperband over a fidelity ladder (Jamieson & Talwalkar 2016; Li et al. 2018).

The ladder is a list of fidelities from cheap to expensive, written ``"a;b;c"`` (fidelities
contain commas): on NAS-Bench-201 e.g. ``proxy:nwot;epochs=12;epochs=200``, on real data
``proxy:nwot;epochs=4,fraction=0.25;epochs=50``. A *bracket* evaluates ``n`` new random
architectures at its first rung, promotes the best ``⌊n/η⌋`` to the next rung, the best
``⌊n/η²⌋`` of those to the next, and so on to the top. At a training rung "best" is the validation
accuracy; at a proxy rung it is the sum of the proxies, each divided by its largest absolute value
in the rung (no proxy dominates by its scale). Every promotion is stored with its rank, as reason
and in the trial's info.

* ``sh``: successive halving repeats the full bracket from the bottom rung with ``η^(k-1)``
  architectures (k rungs), until the budget is spent.
* ``hyperband``: cycles through the k brackets s = k-1 … 0; bracket s starts at rung k-1-s with
  ⌈k/(s+1)·η^s⌉ architectures, so that cheap, wide brackets and expensive, narrow ones share the
  budget (Li et al.'s schedule with R = η^(k-1) and rung i worth η^i).

The defaults are the textbook η = 3 and the evaluator's ladder (low, medium and high rungs; on
NB201 proxies → 12 → 200 epochs). Both strategies need no enumerable space. With several
workers they are synchronous: a rung's evaluations run in parallel, and the strategy waits for
all of them before it ranks the rung. On NB201 a 200-epoch
evaluation costs ≈ 17 twelve-epoch ones and η ≈ 16 beats the usual 3-4 (``docs/results.md``):
set ``eta`` accordingly.
"""

from __future__ import annotations

import itertools
import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.spaces.base import EnumerableSpace, SearchSpace
from pmfnas.strategies.base import (
    SERIAL,
    STRATEGIES,
    WAIT,
    AskContext,
    BaseStrategy,
    Wait,
    scale_free_sum,
)
from pmfnas.types import Arch, Fidelity, Request, Trial


def parse_ladder(text: str) -> tuple[Fidelity, ...]:
    """``"a;b;c"`` as fidelities, strictly increasing, at least two."""
    ladder = tuple(Fidelity.parse(part) for part in text.split(";"))
    if len(ladder) < 2 or any(a >= b for a, b in itertools.pairwise(ladder)):
        raise ConfigError(
            f"rungs {text!r}: need two or more fidelities from cheap to expensive, "
            "separated by ';' (e.g. 'proxy:nwot;epochs=12;epochs=200')"
        )
    if ladder[-1].is_proxy:
        raise ConfigError(f"rungs {text!r}: the top rung must be a training fidelity")
    return ladder


def rank_score(trials: Sequence[Trial], fidelity: Fidelity) -> list[float]:
    """Higher is better: validation accuracy, or the scale-free sum of the proxies."""
    if not fidelity.is_proxy:
        return [t.val_acc for t in trials]
    return scale_free_sum(trials, fidelity.proxies)


@dataclass
class Bracket:
    """One run of successive halving: ``sizes[i]`` architectures at ``rungs[i]``."""

    number: int
    rungs: tuple[Fidelity, ...]
    sizes: tuple[int, ...]
    level: int = 0
    queue: list[Request] = field(default_factory=list)
    asked: int = 0
    """Requests of the current rung handed out so far."""
    told: list[Trial] = field(default_factory=list)


class _Halving(BaseStrategy):
    """The bracket machinery shared by successive halving and Hyperband.

    Args:
        rungs: the fidelity ladder, cheap to expensive, separated by ``;`` (default: the
            evaluator's low, medium and high fidelities).
        eta: the reduction factor η: each rung keeps the best 1/η of the one below.
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        rungs: str | None = None,
        eta: float = 3.0,
        *,
        ladder: Ladder | None = None,
    ) -> None:
        super().__init__(space, seed, ladder=ladder)
        if not eta > 1:
            raise ConfigError(f"the reduction factor eta must be > 1, got {eta}")
        if rungs is None:
            if len(self.ladder.rungs()) < 2:
                raise ConfigError(
                    f"{self.name} needs two or more rungs: pass rungs=... (the evaluator offers "
                    f"{len(self.ladder.rungs())})"
                )
            rungs = ";".join(str(f) for f in self.ladder.rungs())
        self.rungs_text = rungs
        self.rungs = parse_ladder(rungs)
        self._size = space.size if isinstance(space, EnumerableSpace) else None
        self.eta = eta
        self._rng = np.random.default_rng(seed)
        self._brackets = 0
        self._bracket = self._next_bracket()

    @abstractmethod
    def _schedule(self, number: int) -> tuple[int, int]:
        """(first rung, architectures there) of bracket ``number``."""

    def _next_bracket(self) -> Bracket:
        start, n = self._schedule(self._brackets)
        rungs = self.rungs[start:]
        sizes = tuple(max(1, math.floor(n / self.eta**i)) for i in range(len(rungs)))
        bracket = Bracket(self._brackets, rungs, sizes)
        self._brackets += 1
        archs: list[Arch] = []
        while len(archs) < (n if self._size is None else min(n, self._size)):
            if (arch := self.space.sample(self._rng)) not in archs:
                archs.append(arch)
        reason = f"bracket {bracket.number}: new at rung {start}"
        info = {"origin": "sampled", "bracket": bracket.number, "rung": start}
        bracket.queue = [Request(a, rungs[0], reason=reason, info=info) for a in archs]
        return bracket

    def ask(self, context: AskContext = SERIAL) -> Request | Wait:
        bracket = self._bracket
        while not bracket.queue:
            if len(bracket.told) < bracket.asked:
                return WAIT  # a rung is ranked once all of it is told: synchronous halving
            if bracket.level + 1 < len(bracket.rungs):
                self._promote(bracket)
            else:
                bracket = self._bracket = self._next_bracket()
        bracket.asked += 1
        return bracket.queue.pop(0)

    def _promote(self, bracket: Bracket) -> None:
        fidelity = bracket.rungs[bracket.level]
        ranked = [t for t in bracket.told if t.measured]  # a failed evaluation is not promoted
        scores = rank_score(ranked, fidelity)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], ranked[i].number))
        keep = bracket.sizes[bracket.level + 1]
        bracket.level += 1
        target = bracket.rungs[bracket.level]
        bracket.queue = [
            Request(
                ranked[i].arch,
                target,
                reason=f"bracket {bracket.number}: promoted, rank {rank + 1} of {len(order)} "
                f"at {fidelity}",
                info={
                    "origin": "promoted",
                    "bracket": bracket.number,
                    "rank": rank + 1,
                    "of": len(order),
                    "ranked_at": str(fidelity),
                },
            )
            for rank, i in enumerate(order[:keep])
        ]
        bracket.told, bracket.asked = [], 0

    def tell(self, trial: Trial) -> None:
        self._bracket.told.append(trial)

    def params(self) -> dict[str, Any]:
        return {"rungs": self.rungs_text, "eta": self.eta}


@STRATEGIES.register("sh")
class SuccessiveHalving(_Halving):
    """Successive halving from the bottom rung, repeated until the budget is spent.

    Args (besides ``rungs`` and ``eta``):
        width: architectures per bracket at the bottom rung (0: η^(k-1) for k rungs).
    """

    name = "sh"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        rungs: str | None = None,
        eta: float = 3.0,
        width: int = 0,
        *,
        ladder: Ladder | None = None,
    ) -> None:
        if width < 0:
            raise ConfigError(f"width must be positive (0: eta^(rungs-1)), got {width}")
        self.width = width
        super().__init__(space, seed, rungs, eta, ladder=ladder)

    def _schedule(self, number: int) -> tuple[int, int]:
        return 0, self.width or math.ceil(self.eta ** (len(self.rungs) - 1))

    def params(self) -> dict[str, Any]:
        return {**super().params(), "width": self.width}


@STRATEGIES.register("hyperband")
class Hyperband(_Halving):
    """Hyperband: successive-halving brackets of every aggressiveness, in turn (takes ``rungs``
    and ``eta``)."""

    name = "hyperband"

    def _schedule(self, number: int) -> tuple[int, int]:
        top = len(self.rungs) - 1
        s = top - number % (top + 1)
        return top - s, math.ceil((top + 1) / (s + 1) * self.eta**s)
