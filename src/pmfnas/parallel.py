"""The asynchronous search loop: up to ``workers`` evaluations in flight, each result told as
soon as it finishes.

Whenever a worker is free the strategy is asked, with the requests in flight and the work the
workers can still do (:class:`~pmfnas.strategies.base.AskContext`); it answers a request, WAIT
(nothing to ask before a result arrives) or ``None`` (finished). A request that repeats a told
one is served from it for free, as in :class:`~pmfnas.study.Study`; one that repeats a request in
flight waits for it and is then served the same way. A failed evaluation is run again (up to
``retries`` times) before the strategy is told it failed, as in the serial study. The budget is
the executor's clock: an evaluation that could not finish before the budget ends is not started,
and the search ends when nothing is left in flight. With one worker the loop asks, evaluates and
tells exactly as the serial study does.

For now the workers are simulated on the evaluator's virtual clock
(:class:`~pmfnas.execution.SimulatedExecutor`, tabular benchmarks). Such a search is
deterministic, so it resumes by running again: each trial it finishes is checked against the
stored trial of the same number (a mismatch means the configuration changed: an error) and only
the trials beyond the stored ones are stored. Executors whose results arrive in an order that
a rerun cannot reproduce (processes, Ray) will need a journal of asks and tells instead.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any

from pmfnas.errors import ConfigError, StorageError, StrategyError
from pmfnas.evaluators.base import Evaluator
from pmfnas.execution import SimulatedExecutor
from pmfnas.spaces.base import SearchSpace
from pmfnas.storage import Storage
from pmfnas.strategies.base import AskContext, BaseStrategy, Wait
from pmfnas.study import (
    CLOCK_TOLERANCE,
    INTERRUPTED,
    MAX_REPEATS_IN_A_ROW,
    RETRIES,
    StudyResult,
    StudyWatcher,
    cannot_pay,
    evaluated_trial,
    finished_reason,
    guarded,
    reused_trial,
    study_config,
    waits_for_nothing,
)
from pmfnas.types import Arch, Budget, Fidelity, Progress, Request, Trial, TrialState


@dataclass
class _Flight:
    """What is in flight: submitted requests by ticket (in ask order) and the repeats waiting
    for one of them."""

    submitted: dict[int, Request] = field(default_factory=dict)
    repeats: dict[tuple[Arch, Fidelity], list[Request]] = field(default_factory=dict)

    def requests(self) -> tuple[Request, ...]:
        return (*self.submitted.values(), *itertools.chain.from_iterable(self.repeats.values()))

    def flying(self, key: tuple[Arch, Fidelity]) -> bool:
        return any((r.arch, r.fidelity) == key for r in self.submitted.values())


class ParallelStudy:
    """Run a strategy against an evaluator with ``workers`` simulated workers within a budget of
    virtual time.

    Args:
        space: the search space.
        evaluator: answers evaluation requests on a virtual clock (not a wall-time budget).
        strategy: proposes requests, told results in the order they finish.
        budget: virtual seconds the workers have, from the first request to the last result.
        workers: evaluations in flight at most.
        storage: where trials go; ``None`` keeps them in memory only.
        name: the study's name inside the storage file.
        reuse: serve a repeated (architecture, fidelity) request from the earlier trial.
        retries: how many times a failed evaluation is run again before the strategy is told.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        strategy: BaseStrategy,
        budget: float,
        *,
        workers: int,
        storage: Storage | None = None,
        name: str = "default",
        reuse: bool = True,
        retries: int = RETRIES,
    ) -> None:
        if evaluator.budget_unit == "wall":
            raise ConfigError(
                "simulated workers need an evaluator with a virtual clock (a tabular benchmark), "
                "not a wall-time budget"
            )
        self.space = space
        self.evaluator = evaluator
        self.strategy = strategy
        self.budget = Budget(budget)
        self.executor = SimulatedExecutor(workers)
        self.storage, self.name = storage, name
        self.reuse = reuse
        self.retries = retries

    def config(self) -> dict[str, Any]:
        """What determines the trials: the serial study's settings and the workers."""
        config = study_config(self.space, self.evaluator, self.strategy, self.reuse)
        return config | {"workers": self.executor.workers}

    def run(
        self, progress: Progress | None = None, watcher: StudyWatcher | None = None
    ) -> StudyResult:
        """Search until the budget or the strategy is exhausted and nothing is in flight (or an
        interrupt: the partial result, stop reason ``interrupted``); with storage, run the
        stored trials again first, checking each. A stored study made under a larger budget
        runs as it did (the strategy plans against that budget) and stops at this one."""
        self._progress, self._watcher = progress, watcher or StudyWatcher()
        if self.storage is None:
            return self._search(0, [], self.budget.limit)
        study_id = self.storage.study(self.name, self.config())
        with self.storage.lease(study_id, self.name):
            stored = self.storage.trials(study_id, self.space)
            planned = self.storage.budget(study_id) or 0.0
            plan = max(planned, self.budget.limit)
            result = self._search(study_id, stored, plan)
            self.storage.finish(study_id, plan, result.stop_reason)
            return result

    def _search(self, study_id: int, stored: list[Trial], plan: float) -> StudyResult:
        started = time.perf_counter()
        self._study_id, self._stored, self._plan = study_id, stored, plan
        self._own = 0.0
        self._trials: list[Trial] = []
        self._seen: dict[tuple[Arch, Fidelity], Trial] = {}
        self._flight = _Flight()
        self._tickets = itertools.count()
        self._failures: dict[tuple[Arch, Fidelity], int] = {}  # failed runs of one in flight
        self._repeats = 0
        stop_reason: str | None = None
        try:
            while True:
                stop_reason = stop_reason or self._fill()
                if not self._flight.submitted:
                    break
                stop_reason = self._arrive() or stop_reason
        except KeyboardInterrupt:  # the stored trials stay; a rerun runs them again
            stop_reason = INTERRUPTED
        if self._number and self._number <= len(self._stored):
            self._watcher.replayed(self.name, self._number)
        evidence = [t for t in self._trials if t.measured]
        return StudyResult(
            trials=self._trials,
            best=self.strategy.best(evidence),
            spent=self.budget.spent,
            budget=self.budget.limit,
            stop_reason=stop_reason or "budget spent",
            strategy_seconds=self._own,
            wall_seconds=time.perf_counter() - started,
        )

    def _fill(self) -> str | None:
        """Ask while a worker is free; why the search asks no more, if it does not."""
        flight = self._flight
        while self.executor.running < self.executor.workers:
            request = self._ask()
            if isinstance(request, Wait):
                return None
            if request is None:
                return finished_reason(self.strategy, self.evaluator.budget_unit)
            key = (request.arch, request.fidelity)
            if self.reuse and key in self._seen:
                self._record(reused_trial(self._number, request, self._seen[key], self._now))
                self._repeats += 1
                if self._repeats >= MAX_REPEATS_IN_A_ROW:
                    return f"strategy repeated evaluated requests {self._repeats} times in a row"
                continue
            self._repeats = 0
            if self.reuse and flight.flying(key):
                flight.repeats.setdefault(key, []).append(request)
                continue
            if (why := self._unaffordable(request)) is not None:
                return why
            self._submit(request)
        return None

    def _arrive(self) -> str | None:
        """Take the next finished evaluation: run it again if it failed and may be retried,
        else keep it and serve the repeats waiting for it; why the search stops, if it must."""
        flight = self._flight
        ticket, result = self.executor.wait()
        request = flight.submitted.pop(ticket)
        key = (request.arch, request.fidelity)
        trial = evaluated_trial(self._number, request, result, time.time(), self._now)
        again = self._failures.get(key, 0) < self.retries and self._unaffordable(request) is None
        if trial.state is TrialState.FAILED and again:  # on the worker just freed
            self._failures[key] = self._failures.get(key, 0) + 1
            self._record(replace(trial, info={**trial.info, "retried": True}))
            self._submit(request)
            return None
        self._failures.pop(key, None)
        twins = flight.repeats.pop(key, [])
        self._record(trial)
        if trial.state is TrialState.STOPPED:
            return f"budget spent during {request.fidelity}"
        for twin in twins:  # a repeat gets what it repeats: reused, or failed alike
            if trial.measured:
                self._record(reused_trial(self._number, twin, trial, self._now))
            else:
                failed = {**twin.info, "error": trial.info["error"]}
                self._record(replace(trial, number=self._number, info=failed))
        return None

    @property
    def _now(self) -> float:
        return self.executor.clock

    @property
    def _number(self) -> int:
        return len(self._trials)

    def _ask(self) -> Request | Wait | None:
        in_flight = self._flight.requests()
        left = self.executor.workers * (self._plan - self._now) - self.executor.committed()
        mark = time.perf_counter()
        request = self.strategy.ask(AskContext(left, in_flight))
        self._own += time.perf_counter() - mark
        if isinstance(request, Wait) and not in_flight:
            raise StrategyError(waits_for_nothing(self.strategy))
        return request

    def _submit(self, request: Request) -> None:
        ticket = next(self._tickets)
        self._flight.submitted[ticket] = request
        left = self.budget.limit - self._now
        evaluate = guarded(self.evaluator.evaluate)
        self.executor.submit(ticket, evaluate, request.arch, request.fidelity, left)

    def _unaffordable(self, request: Request) -> str | None:
        """Why ``request`` cannot start now (it would end after the budget), or ``None``."""
        left = self.budget.limit - self._now
        expected = self.evaluator.expected_cost(request.arch, request.fidelity)
        unit = self.evaluator.budget_unit
        if left <= 0:
            return "budget spent"
        if expected is not None and expected > left + CLOCK_TOLERANCE:
            what = f"{request.fidelity} of {self.space.format(request.arch)}"
            return cannot_pay(left, what, expected, unit)
        return None

    def _record(self, trial: Trial) -> None:
        """Keep a finished trial (stored, or checked against the stored one of its number) and
        tell the strategy (a stopped or retried one is kept, never told)."""
        if self._number < len(self._stored):
            self._check(self._stored[self._number], trial)
        else:
            if self._number == len(self._stored) and self._stored:
                self._watcher.replayed(self.name, self._number)
            if self.storage:
                self.storage.append(self._study_id, trial, self.space)
        self._trials.append(trial)
        self.budget.spent = max(self.budget.spent, trial.clock)
        self._watcher.finished(trial, self.budget.spent, self.budget.limit)
        if trial.measured:
            self._seen.setdefault((trial.arch, trial.fidelity), trial)
        if trial.state is not TrialState.STOPPED and not trial.retried:
            mark = time.perf_counter()
            self.strategy.tell(trial)
            self._own += time.perf_counter() - mark
        if self._progress:
            self._progress(self.budget.spent, self.budget.limit)

    def _check(self, stored: Trial, trial: Trial) -> None:
        """A rerun trial must be the stored one: the same request with the same outcome."""
        if (stored.arch, stored.fidelity, stored.state) != (
            trial.arch,
            trial.fidelity,
            trial.state,
        ):
            raise StorageError(
                f"study {self.name!r}: trial {trial.number} in storage is "
                f"{self.space.format(stored.arch)} at {stored.fidelity} ({stored.state}), but the "
                f"search now gives {self.space.format(trial.arch)} at {trial.fidelity} "
                f"({trial.state}); the stored history does not belong to this configuration"
            )
