"""The search loop: ask → check the budget → evaluate → store → tell, until the budget is spent.

A study with storage is resumable by replay: the strategy is rebuilt from its parameters and seed,
and each request it makes is answered from the stored trial of the same number (no evaluation,
same cost charged) until the stored history runs out; from there on the search continues live. A
request that differs from the stored one means the configuration changed: that is an error, not a
silent mix of two searches.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pmfnas.errors import StorageError
from pmfnas.evaluators.base import Evaluator
from pmfnas.execution import SerialExecutor
from pmfnas.spaces.base import SearchSpace
from pmfnas.storage import Storage
from pmfnas.strategies.base import BaseStrategy
from pmfnas.types import Arch, Budget, Fidelity, Request, Trial, TrialState

MAX_REPEATS_IN_A_ROW = 1000
"""A strategy that only re-asks evaluated architectures this many times in a row is stuck."""

Progress = Callable[[float, float], None]


@dataclass(frozen=True)
class StudyResult:
    """What a finished (or stopped) search produced; ``strategy_seconds`` is the wall time the
    strategy's own ``ask`` and ``tell`` took (its overhead), ``wall_seconds`` the whole run's."""

    trials: list[Trial]
    best: Trial | None
    spent: float
    budget: float
    stop_reason: str
    strategy_seconds: float
    wall_seconds: float


class Study:
    """Run a strategy against an evaluator within a budget, storing every trial.

    Args:
        space: the search space (formats architectures for storage).
        evaluator: answers evaluation requests and says what they cost.
        strategy: proposes requests; rebuilt from its parameters and seed on resume.
        budget: seconds to spend, in the evaluator's unit (simulated or wall).
        storage: where trials go; ``None`` keeps them in memory only.
        name: the study's name inside the storage file.
        reuse: serve a repeated (architecture, fidelity) request from the earlier trial at no
            cost instead of paying for it again (the trial is stored as ``reused``).
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        strategy: BaseStrategy,
        budget: float,
        *,
        storage: Storage | None = None,
        name: str = "default",
        executor: SerialExecutor | None = None,
        reuse: bool = True,
    ) -> None:
        self.space = space
        self.evaluator = evaluator
        self.strategy = strategy
        self.budget = Budget(budget)
        self.storage = storage
        self.name = name
        self.executor = executor or SerialExecutor()
        self.reuse = reuse

    def config(self) -> dict[str, Any]:
        """Everything that determines the trials (the budget does not: a study may be extended)."""
        return {
            "space": self.space.name,
            "evaluator": self.evaluator.describe(),
            "strategy": self.strategy.name,
            "params": self.strategy.params(),
            "seed": self.strategy.seed,
            "reuse": self.reuse,
        }

    def run(self, progress: Progress | None = None) -> StudyResult:
        """Search until the budget or the strategy is exhausted; resume from storage if any.

        With storage, the study is leased to this process while it runs: a second process
        running the same study at once is refused (:meth:`pmfnas.storage.Storage.lease`).
        """
        if self.storage is None:
            return self._search(0, [], progress)
        study_id = self.storage.study(self.name, self.config())
        with self.storage.lease(study_id, self.name):
            return self._search(study_id, self.storage.trials(study_id, self.space), progress)

    def _search(self, study_id: int, stored: list[Trial], progress: Progress | None) -> StudyResult:
        started = time.perf_counter()
        own = 0.0  # seconds inside the strategy's ask and tell
        trials: list[Trial] = []
        seen: dict[tuple[Arch, Fidelity], Trial] = {}
        repeats = 0
        stop_reason = "budget spent"
        while True:
            self.strategy.budget_left = self.budget.remaining
            mark = time.perf_counter()
            request = self.strategy.ask()
            own += time.perf_counter() - mark
            if request is None:
                stop_reason = "strategy finished"
                break
            number = len(trials)
            earlier = seen.get((request.arch, request.fidelity)) if self.reuse else None
            if number < len(stored):
                trial = self._replayed(stored[number], request)
            elif earlier is not None:
                trial = self._reused(number, request, earlier)
            else:
                expected = self.evaluator.expected_cost(request.arch, request.fidelity)
                if self.budget.remaining <= 0 or (
                    expected is not None and not self.budget.fits(expected)
                ):
                    break
                trial = self._evaluated(number, request)
            if self.storage and number >= len(stored):
                self.storage.append(study_id, trial, self.space)
            repeats = repeats + 1 if trial.state is TrialState.REUSED else 0
            self.budget.spend(trial.cost)
            trials.append(trial)
            seen.setdefault((trial.arch, trial.fidelity), trial)
            mark = time.perf_counter()
            self.strategy.tell(trial)
            own += time.perf_counter() - mark
            if progress:
                progress(self.budget.spent, self.budget.limit)
            if repeats >= MAX_REPEATS_IN_A_ROW:
                stop_reason = f"strategy repeated evaluated requests {repeats} times in a row"
                break
        return StudyResult(
            trials=trials,
            best=self.strategy.best(trials),
            spent=self.budget.spent,
            budget=self.budget.limit,
            stop_reason=stop_reason,
            strategy_seconds=own,
            wall_seconds=time.perf_counter() - started,
        )

    def _replayed(self, trial: Trial, request: Request) -> Trial:
        if (trial.arch, trial.fidelity) != (request.arch, request.fidelity):
            raise StorageError(
                f"study {self.name!r}: trial {trial.number} in storage is "
                f"{self.space.format(trial.arch)} at {trial.fidelity}, but the strategy now asks "
                f"{self.space.format(request.arch)} at {request.fidelity}; the stored history "
                "does not belong to this configuration"
            )
        return trial

    def _reused(self, number: int, request: Request, earlier: Trial) -> Trial:
        now = time.time()
        return Trial(
            number=number,
            arch=request.arch,
            fidelity=request.fidelity,
            state=TrialState.REUSED,
            metrics=dict(earlier.metrics),
            cost=0.0,
            clock=self.budget.spent,
            curve=earlier.curve,
            reason=request.reason,
            started=now,
            finished=now,
            info={"reused_trial": earlier.number},
        )

    def _evaluated(self, number: int, request: Request) -> Trial:
        started = time.time()
        result = self.executor.run(self.evaluator.evaluate, request.arch, request.fidelity)
        return Trial(
            number=number,
            arch=request.arch,
            fidelity=request.fidelity,
            state=TrialState.COMPLETE,
            metrics=dict(result.metrics),
            cost=result.cost,
            clock=self.budget.spent + result.cost,
            curve=result.curve,
            reason=request.reason,
            started=started,
            finished=time.time(),
            info=dict(result.private),
        )


def trials_per_fidelity(trials: list[Trial]) -> dict[str, int]:
    """How many trials each fidelity received, cheapest first (reused ones included)."""
    counts = Counter(t.fidelity for t in trials)
    return {str(f): counts[f] for f in sorted(counts)}
