"""The asynchronous search loop: up to ``workers`` evaluations in flight, each result told as
soon as it finishes.

Whenever a worker is free the strategy is asked, with the requests in flight and the work the
workers can still do (:class:`~pmfnas.strategies.base.AskContext`); it answers a request, WAIT
(nothing to ask before a result arrives) or ``None`` (finished). A request that repeats a told
one is served from it for free, as in :class:`~pmfnas.study.Study`; one that repeats a request in
flight waits for it and is then served the same way. A failed evaluation is run again (up to
``retries`` times) before the strategy is told it failed, as in the serial study. The budget is the executor's clock: an
evaluation that could not finish before the budget ends is not started, and the search ends when
nothing is left in flight. With one worker the loop asks, evaluates and tells exactly as the
serial study does.

For now the workers are simulated on the evaluator's virtual clock
(:class:`~pmfnas.execution.SimulatedExecutor`, tabular benchmarks) and the trials stay in
memory: a journal of asks and tells that resumes such a search exactly is the next step.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

from pmfnas.errors import ConfigError, StrategyError
from pmfnas.evaluators.base import Evaluator
from pmfnas.execution import SimulatedExecutor
from pmfnas.spaces.base import SearchSpace
from pmfnas.strategies.base import AskContext, BaseStrategy, Wait
from pmfnas.study import (
    CLOCK_TOLERANCE,
    MAX_REPEATS_IN_A_ROW,
    RETRIES,
    StudyResult,
    StudyWatcher,
    cannot_pay,
    evaluated_trial,
    finished_reason,
    guarded,
    reused_trial,
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
        self.reuse = reuse
        self.retries = retries

    def run(
        self, progress: Progress | None = None, watcher: StudyWatcher | None = None
    ) -> StudyResult:
        """Search until the budget or the strategy is exhausted and nothing is in flight."""
        watcher = watcher or StudyWatcher()
        started = time.perf_counter()
        self._own = 0.0
        self._trials: list[Trial] = []
        self._seen: dict[tuple[Arch, Fidelity], Trial] = {}
        self._progress, self._watcher = progress, watcher
        flight = _Flight()
        tickets = itertools.count()
        failures: dict[tuple[Arch, Fidelity], int] = {}  # failed runs of a request in flight
        stop_reason: str | None = None
        repeats = 0
        while True:
            while stop_reason is None and self.executor.running < self.executor.workers:
                request = self._ask(flight)
                if isinstance(request, Wait):
                    break
                if request is None:
                    stop_reason = finished_reason(self.strategy, self.evaluator.budget_unit)
                    break
                key = (request.arch, request.fidelity)
                if self.reuse and key in self._seen:
                    self._record(reused_trial(self._number, request, self._seen[key], self._now))
                    repeats += 1
                    if repeats >= MAX_REPEATS_IN_A_ROW:
                        stop_reason = (
                            f"strategy repeated evaluated requests {repeats} times in a row"
                        )
                    continue
                repeats = 0
                if self.reuse and flight.flying(key):
                    flight.repeats.setdefault(key, []).append(request)
                    continue
                stop_reason = self._unaffordable(request)
                if stop_reason is None:
                    ticket = next(tickets)
                    flight.submitted[ticket] = request
                    self._submit(ticket, request)
            if not flight.submitted:
                break
            ticket, result = self.executor.wait()
            request = flight.submitted.pop(ticket)
            key = (request.arch, request.fidelity)
            trial = evaluated_trial(self._number, request, result, time.time(), self._now)
            again = failures.get(key, 0) < self.retries and self._unaffordable(request) is None
            if trial.state is TrialState.FAILED and again:  # run it on the worker just freed
                failures[key] = failures.get(key, 0) + 1
                self._record(replace(trial, info={**trial.info, "retried": True}))
                ticket = next(tickets)
                flight.submitted[ticket] = request
                self._submit(ticket, request)
                continue
            failures.pop(key, None)
            twins = flight.repeats.pop(key, [])
            self._record(trial)
            if trial.state is TrialState.STOPPED:
                stop_reason = stop_reason or f"budget spent during {request.fidelity}"
                continue
            for twin in twins:  # a repeat gets what it repeats: reused, or failed alike
                if trial.measured:
                    self._record(reused_trial(self._number, twin, trial, self._now))
                else:
                    failed = {**twin.info, "error": trial.info["error"]}
                    self._record(replace(trial, number=self._number, info=failed))
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

    @property
    def _now(self) -> float:
        return self.executor.clock

    @property
    def _number(self) -> int:
        return len(self._trials)

    def _ask(self, flight: _Flight) -> Request | Wait | None:
        in_flight = flight.requests()
        left = self.executor.workers * (self.budget.limit - self._now) - self.executor.committed()
        mark = time.perf_counter()
        request = self.strategy.ask(AskContext(left, in_flight))
        self._own += time.perf_counter() - mark
        if isinstance(request, Wait) and not in_flight:
            raise StrategyError(waits_for_nothing(self.strategy))
        return request

    def _submit(self, ticket: int, request: Request) -> None:
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
        """Keep a finished trial and tell the strategy (a stopped or retried one is kept, never
        told)."""
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
