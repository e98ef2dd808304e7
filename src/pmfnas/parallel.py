"""The asynchronous search loop: up to ``workers`` evaluations in flight, each result told as
soon as it finishes.

Whenever a worker is free the strategy is asked (:meth:`ParallelStudy.ask`), with the requests
in flight and the work the workers can still do (:class:`~pmfnas.strategies.base.AskContext`);
it answers a request, WAIT (nothing to ask before a result arrives) or ``None`` (finished). A
request that repeats a told one is served from it for free, as in :class:`~pmfnas.study.Study`;
one that repeats a request in flight waits for it and is then served the same way. A finished
evaluation is told (:meth:`ParallelStudy.tell`); a failed one is run again (up to ``retries``
times) before the strategy is told it failed; ``max_failures`` told failures in a row stop the
search, as in the serial study. An evaluation that could not finish before the
budget ends is not started, and the search ends when nothing is left in flight. With one
worker the loop asks, evaluates and tells exactly as the serial study does. :meth:`run` is that
loop over an executor (:mod:`pmfnas.executors`); a user's own training code can drive
:meth:`ask` and :meth:`tell` itself.

Resume. With storage, every submission and arrival goes to the study's journal, in the batch
with the trials it produced, so a killed run leaves a consistent prefix of both. A resumed
study replays the journal: the strategy is asked and told exactly as before (same asks, same
clock readings, same order), each stored trial is checked against what the replay gives, and
the evaluations that were in flight are run again; from the journal's end the search goes on
live. A simulated search needs no journal to replay (it is deterministic): it runs again,
checking each trial against the stored one. Where a replay meets a step the stored run did not
take (a larger budget pays for what was unaffordable, or for a training the budget cut short)
it goes live from there, and the later stored steps are run again.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from pmfnas.errors import StorageError, StrategyError
from pmfnas.evaluators.base import Evaluator
from pmfnas.executors import Executor, Job, SimulatedExecutor
from pmfnas.spaces.base import SearchSpace
from pmfnas.storage import JournalEvent, Storage
from pmfnas.strategies.base import WAIT, AskContext, BaseStrategy, Wait
from pmfnas.study import (
    CLOCK_TOLERANCE,
    INTERRUPTED,
    MAX_FAILURES_IN_A_ROW,
    MAX_REPEATS_IN_A_ROW,
    RETRIES,
    FailuresInARow,
    StudyResult,
    StudyWatcher,
    cannot_pay,
    evaluated_trial,
    finished_reason,
    reused_trial,
    stored_study,
    study_config,
    waits_for_nothing,
)
from pmfnas.types import Arch, Budget, Fidelity, Progress, Request, Result, Trial, TrialState
from pmfnas.units import format_amount

HEARTBEAT_SECONDS = 10.0
"""How often a live run with real workers stores its running evaluations' heartbeats."""


@dataclass(frozen=True)
class Asked:
    """An evaluation the study wants: run ``request`` and :meth:`ParallelStudy.tell` the
    result under ``ticket``. ``limit`` is the budget left when it was asked (an evaluation
    should stop there), ``started`` the clock it was asked at."""

    ticket: int
    request: Request
    limit: float
    started: float

    @property
    def arch(self) -> Arch:
        return self.request.arch

    @property
    def fidelity(self) -> Fidelity:
        return self.request.fidelity


@dataclass
class _Flight:
    """What is in flight: asked evaluations by ticket (in ask order) and the repeats waiting
    for one of them."""

    asked: dict[int, Asked] = field(default_factory=dict)
    repeats: dict[tuple[Arch, Fidelity], list[Request]] = field(default_factory=dict)

    def requests(self) -> tuple[Request, ...]:
        requests = (a.request for a in self.asked.values())
        return (*requests, *itertools.chain.from_iterable(self.repeats.values()))

    def flying(self, key: tuple[Arch, Fidelity]) -> bool:
        return any((a.arch, a.fidelity) == key for a in self.asked.values())


class _GoLive(Exception):
    """The replay met a step the stored run did not take: the search goes live here."""


class ParallelStudy:
    """Run a strategy against an evaluator with ``workers`` workers within a budget.

    Args:
        space: the search space.
        evaluator: answers evaluation requests (on the executor's workers).
        strategy: proposes requests, told results in the order they finish.
        budget: what the workers may spend, from the first request to the last result: virtual
            seconds of simulated workers, wall seconds of real ones, or FLOPs of work.
        workers: evaluations in flight at most, on simulated workers (no ``executor`` given).
        executor: where evaluations run (:mod:`pmfnas.executors`); its workers are the limit.
        storage: where trials and the journal go; ``None`` keeps them in memory only.
        name: the study's name inside the storage file.
        reuse: serve a repeated (architecture, fidelity) request from the earlier trial.
        retries: how many times a failed evaluation is run again before the strategy is told.
        max_failures: evaluations told failed in a row after which the search stops.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        strategy: BaseStrategy,
        budget: float,
        *,
        workers: int | None = None,
        executor: Executor | None = None,
        storage: Storage | None = None,
        name: str = "default",
        reuse: bool = True,
        retries: int = RETRIES,
        max_failures: int = MAX_FAILURES_IN_A_ROW,
    ) -> None:
        self.space = space
        self.evaluator = evaluator
        self.strategy = strategy
        self.budget = Budget(budget)
        self.executor = executor or SimulatedExecutor(workers or 1)
        if self.executor.kind == "simulated":
            self.executor.start(evaluator)  # refuses a wall-clock evaluator now
        self.storage, self.name = storage, name
        self.reuse = reuse
        self.retries = retries
        self.max_failures = FailuresInARow.checked(max_failures)
        self._begin(0, [], [], self.budget.limit)

    def config(self) -> dict[str, Any]:
        """What determines the trials: the serial study's settings, the workers and, when not
        simulated, the executor."""
        config = study_config(self.space, self.evaluator, self.strategy, self.reuse)
        config["workers"] = self.executor.workers
        if self.executor.kind != "simulated":
            config["executor"] = self.executor.kind
        return config

    def run(
        self, progress: Progress | None = None, watcher: StudyWatcher | None = None
    ) -> StudyResult:
        """Search until the budget or the strategy is exhausted and nothing is in flight (or an
        interrupt: the partial result, stop reason ``interrupted``); with storage, replay the
        stored study first. A stored study made under a larger budget replays as it ran (the
        strategy plans against that budget) and stops at this one."""
        self._progress, self._watcher = progress, watcher or StudyWatcher()
        try:
            if self.storage is None:
                return self._search()
            study_id = stored_study(self.storage, self.name, self.config(), self.strategy)
            with self.storage.lease(study_id, self.name):
                trials = self.storage.trials(study_id, self.space)
                events = self.storage.events(study_id)
                plan = max(self.storage.budget(study_id) or 0.0, self.budget.limit)
                self._begin(study_id, trials, events, plan)
                result = self._search()
                self.storage.finish(study_id, plan, result.stop_reason)
                return result
        finally:
            self.executor.close()

    # The loop over the executor.

    def _search(self) -> StudyResult:
        started = time.perf_counter()
        stop_reason: str | None = None
        try:
            stop_reason, cut = self._replay()
            while not cut:
                stop_reason = stop_reason or self._fill()
                if not self._flight.asked:
                    break
                ticket, result = self._live_arrival()
                stop_reason = self.tell(ticket, result) or stop_reason
        except KeyboardInterrupt:  # the stored trials stay; a rerun resumes from them
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
        """Ask while a worker is free, submitting what is asked; why the search asks no more,
        if it does not."""
        self._read_clock()
        while len(self._flight.asked) < self.executor.workers:
            asked = self.ask()
            if isinstance(asked, Wait):
                return None
            if isinstance(asked, str):
                return asked
            if self._live:
                self._submit(asked)
        return None

    def _replay(self) -> tuple[str | None, bool]:
        """Replay the journal, asking and telling as the stored run did, then go live; why
        the stored run stopped asking (if it did), and whether the replay cut the search short
        (the stored study went past this budget: the stop reason says so)."""
        stop_reason: str | None = None
        while self._replaying:
            stop_reason = stop_reason or self._fill()
            if not self._replaying or not self._flight.asked:
                break
            try:
                arrival = self._replayed_arrival()
            except _GoLive:
                break
            if isinstance(arrival, str):
                return arrival, True
            stop_reason = self.tell(*arrival) or stop_reason
        if not self._live:
            self._go_live()
        return stop_reason, False

    def _live_arrival(self) -> tuple[int, Result]:
        """The next evaluation the executor finishes (heartbeats stored while waiting)."""
        while (finished := self.executor.wait(HEARTBEAT_SECONDS)) is None:
            if self.storage:
                self.storage.beat(self._study_id, self.executor.heartbeats())
                self.storage.commit()
        self._now = self.executor.now()
        self._journal("arrive", finished[0])
        return finished

    # Ask and tell: the steps of the loop, which a user's training code drives itself
    # through :class:`pmfnas.ask_tell.AskTellStudy`.

    def open(self) -> str | None:
        """Take the stored study (leased until :meth:`close`) and replay it, for a caller
        that then asks and tells itself; why the stored run stopped asking, if it did."""
        self._progress, self._watcher = None, StudyWatcher()
        trials: list[Trial] = []
        events: list[JournalEvent] = []
        study_id, plan = 0, self.budget.limit
        if self.storage is not None:
            study_id = stored_study(self.storage, self.name, self.config(), self.strategy)
            self._lease = self.storage.lease(study_id, self.name)
            self._lease.__enter__()
            trials, events = (
                self.storage.trials(study_id, self.space),
                self.storage.events(study_id),
            )
            plan = max(self.storage.budget(study_id) or 0.0, plan)
        self._begin(study_id, trials, events, plan)
        return self._replay()[0]

    def ask_live(self) -> Asked | Wait | str:
        """One live ask, submitted to the executor when it is an evaluation; WAIT also when
        every worker is busy."""
        if len(self._flight.asked) >= self.executor.workers:
            return WAIT
        self._read_clock()
        asked = self.ask()
        if isinstance(asked, Asked):
            self._submit(asked)
        return asked

    def arrive_live(self, ticket: int, result: Result) -> str | None:
        """Tell the result of ``ticket``, which arrived just now."""
        self._now = self.executor.now()
        self._journal("arrive", ticket)
        return self.tell(ticket, result)

    @property
    def trials(self) -> list[Trial]:
        """The trials so far, in the order they were told."""
        return self._trials

    def close(self, stop_reason: str) -> None:
        """Record why the study stopped and release it (after :meth:`open`)."""
        if self.storage is not None:
            self.storage.finish(self._study_id, self._plan, stop_reason)
            self._lease.__exit__(None, None, None)
        self.executor.close()

    def ask(self) -> Asked | Wait | str:
        """The next evaluation to run, WAIT (tell a result first) or why the search asks no
        more (a string: the stop reason). Repeats are served or parked here, never returned."""
        flight = self._flight
        while True:
            request = self._ask_strategy()
            if isinstance(request, Wait):
                return WAIT
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
            if not self._live and not self._replayed_submit(self._next_ticket, request):
                if (why := self._unaffordable(request)) is not None:
                    return why  # where the stored run stopped asking
                self._go_live()
            if self._live and (why := self._unaffordable(request)) is not None:
                return why
            return self._register(request)

    def tell(self, ticket: int, result: Result) -> str | None:
        """Record the result of evaluation ``ticket``: ask it again if it failed and may be
        retried, else keep it and serve the repeats waiting for it; why the search stops, if
        it must."""
        flight = self._flight
        asked = flight.asked.pop(ticket)
        request = asked.request
        key = (request.arch, request.fidelity)
        trial = evaluated_trial(self._number, request, result, time.time(), self._now)
        again = self._failures.get(key, 0) < self.retries and self._unaffordable(request) is None
        if trial.state is TrialState.FAILED and again:
            self._failures[key] = self._failures.get(key, 0) + 1
            self._record(replace(trial, info={**trial.info, "retried": True}))
            if not self._live and not self._replayed_submit(self._next_ticket, request):
                self._go_live()
            retry = self._register(request)  # on the worker just freed
            if self._live:
                self._submit(retry)
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
        return self._failed.told(trial)

    def _register(self, request: Request) -> Asked:
        """``request`` in flight under the next ticket (journaled when live)."""
        asked = Asked(self._next_ticket, request, self._left(), self._now)
        self._next_ticket += 1
        self._flight.asked[asked.ticket] = asked
        if self._live:
            self._journal("submit", asked.ticket, request)
        return asked

    # State, the clock and the strategy.

    def _begin(
        self, study_id: int, trials: list[Trial], events: list[JournalEvent], plan: float
    ) -> None:
        self._study_id, self._stored, self._plan = study_id, trials, plan
        simulated = self.executor.kind == "simulated"
        if trials and not events and not simulated:
            raise StorageError(
                f"study {self.name!r} has trials but no journal: it was not run by this "
                "executor; choose another --study name"
            )
        self._events = deque([] if simulated else events)
        self._journaled = len(events)  # events stored; the journal goes on after them
        self._seq = 0 if simulated else len(events)  # the next journal event's number
        self._replaying = bool(self._events)
        self._live = False
        self._own = 0.0
        self._now = 0.0
        self._trials: list[Trial] = []
        self._seen: dict[tuple[Arch, Fidelity], Trial] = {}
        self._flight = _Flight()
        self._next_ticket = 0
        self._failures: dict[tuple[Arch, Fidelity], int] = {}  # failed runs of one in flight
        self._repeats = 0
        self._failed = FailuresInARow(self.max_failures)

    @property
    def _number(self) -> int:
        return len(self._trials)

    def _read_clock(self) -> None:
        """The clock for this round of asks: the journal's while replaying, else the
        executor's (a new reading is journaled)."""
        if not self._live:
            if self._events and self._events[0].kind == "now":
                self._now = self._events.popleft().clock
            return
        now = self.executor.now()
        if now != self._now:
            self._now = now
            self._journal("now", None)

    @property
    def _counts_work(self) -> bool:
        """Whether the clock is the work done (a FLOPs budget on real workers), so that what
        is in flight is work already promised."""
        return not self.executor.virtual_clock and self.evaluator.budget_unit != "wall"

    def _promised(self) -> float:
        """The expected cost of the evaluations in flight, on a clock that counts work."""
        if not self._counts_work:
            return 0.0
        costs = (
            self.evaluator.expected_cost(a.arch, a.fidelity) for a in self._flight.asked.values()
        )
        return sum(cost or 0.0 for cost in costs)

    def _ask_strategy(self) -> Request | Wait | None:
        in_flight = self._flight.requests()
        if self._counts_work:
            left = self._plan - self._now - self._promised()
        else:
            left = self.executor.workers * (self._plan - self._now)
            if self._live:
                left -= self.executor.committed()
        mark = time.perf_counter()
        request = self.strategy.ask(AskContext(left, in_flight))
        self._own += time.perf_counter() - mark
        if isinstance(request, Wait) and not in_flight:
            raise StrategyError(waits_for_nothing(self.strategy))
        return request

    def _unaffordable(self, request: Request) -> str | None:
        """Why ``request`` cannot start now (it would end after the budget), or ``None``."""
        left = self.budget.limit - self._now - self._promised()
        expected = self.evaluator.expected_cost(request.arch, request.fidelity)
        unit = self.evaluator.budget_unit
        if left <= 0:
            return "budget spent"
        if expected is not None and expected > left + CLOCK_TOLERANCE:
            what = f"{request.fidelity} of {self.space.format(request.arch)}"
            return cannot_pay(left, what, expected, unit)
        return None

    # Going live, submitting, journaling and recording.

    def _go_live(self) -> None:
        """From here on, evaluate for real: forget the stored steps not replayed, start the
        executor at the replay's clock and run again what was in flight."""
        self._replaying, self._live = False, True
        journaled = self.executor.kind != "simulated"
        if journaled and (self._events or self._number < len(self._stored)):
            self._seq = self._events[0].seq if self._events else self._seq
            self._journaled = self._seq
            if self.storage:
                self.storage.truncate(self._study_id, self._number, self._seq)
            self._stored = self._stored[: self._number]
        self._events.clear()
        if self.executor.kind != "simulated":
            self.executor.start(self.evaluator, self._now)
        for asked in self._flight.asked.values():
            self._submit(asked, again=True)

    def _left(self) -> float:
        """What an evaluation asked now may spend: the budget left, less what is promised."""
        return self.budget.limit - self._now - self._promised()

    def _submit(self, asked: Asked, again: bool = False) -> None:
        limit = asked.limit if self._counts_work else self.budget.limit - self._now
        job = Job(asked.arch, asked.fidelity, limit, asked.started if again else None)
        self.executor.submit(asked.ticket, job)
        if again:
            self._journal("resubmit", asked.ticket, asked.request)
        elif self._number >= len(self._stored):
            self._watcher.started(self._number, asked.request, self.budget.spent, self.budget.limit)

    def _journal(self, kind: str, ticket: int | None, request: Request | None = None) -> None:
        """Journal one step of the live search (a simulated one too, for its running marks)."""
        if self.storage is None:
            return
        arch = None if request is None else self.space.format(request.arch)
        fidelity = None if request is None else str(request.fidelity)
        event = JournalEvent(self._seq, kind, ticket, self._now, arch, fidelity)
        self._seq += 1
        if event.seq >= self._journaled:  # a simulated rerun passes the stored events by
            self.storage.record(self._study_id, event)

    def _replayed_submit(self, ticket: int, request: Request) -> bool:
        """Whether the journal's next step is this submission (checked against the request)."""
        while self._events and self._events[0].kind == "resubmit":
            self._events.popleft()
        if not self._events or self._events[0].kind != "submit":
            return False
        event = self._events[0]
        formatted = (self.space.format(request.arch), str(request.fidelity))
        if (event.ticket, event.arch, event.fidelity) != (ticket, *formatted):
            raise StorageError(
                f"study {self.name!r}: the journal's step {event.seq} submits {event.arch} at "
                f"{event.fidelity}, but the strategy now asks {formatted[0]} at {formatted[1]}; "
                "the stored history does not belong to this configuration"
            )
        self._events.popleft()
        return True

    def _replayed_arrival(self) -> tuple[int, Result] | str:
        """The journal's next arrival with its stored result; raises :class:`_GoLive` where
        the journal ends or a larger budget pays for a training the stored run cut short."""
        while self._events and self._events[0].kind == "resubmit":
            self._events.popleft()
        if not self._events or self._events[0].kind != "arrive":
            raise _GoLive
        event = self._events[0]
        stored = self._stored[self._number] if self._number < len(self._stored) else None
        if stored is None:
            raise _GoLive  # the journal ran ahead of the trials (cannot happen in one batch)
        extended = self.budget.limit > stored.clock + CLOCK_TOLERANCE
        if stored.state is TrialState.STOPPED and extended:
            raise _GoLive
        if event.clock > self.budget.limit + CLOCK_TOLERANCE:
            unit = self.evaluator.budget_unit
            went_on = format_amount(self._stored[-1].clock, unit)
            return f"budget spent (the stored study went on to {went_on}; its later trials are not used)"
        self._events.popleft()
        self._now = event.clock
        return event.ticket, _result_of(stored)

    def _record(self, trial: Trial) -> None:
        """Keep a finished trial (stored, or checked against the stored one of its number) and
        tell the strategy (a stopped or retried one is kept, never told)."""
        replayed = self._number < len(self._stored)
        if replayed:
            trial = self._check(self._stored[self._number], trial)
        else:
            if self._number == len(self._stored) and self._stored:
                self._watcher.replayed(self.name, self._number)
            if self.storage:
                self.storage.append(self._study_id, trial, self.space)
        self._trials.append(trial)
        self.budget.spent = max(self.budget.spent, trial.clock)
        if not replayed:
            self._watcher.finished(trial, self.budget.spent, self.budget.limit)
        if trial.measured:
            self._seen.setdefault((trial.arch, trial.fidelity), trial)
        if not self._live or not self.executor.local:
            self.evaluator.observe(trial)  # it learns what was measured elsewhere
        if trial.state is not TrialState.STOPPED and not trial.retried:
            mark = time.perf_counter()
            self.strategy.tell(trial)
            self._own += time.perf_counter() - mark
        if self._progress:
            self._progress(self.budget.spent, self.budget.limit)

    def _check(self, stored: Trial, trial: Trial) -> Trial:
        """A replayed trial must be the stored one (the same request with the same outcome);
        the stored one is kept, with its own times."""
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
        return stored


def _result_of(trial: Trial) -> Result:
    """The result a stored evaluated trial was made from (its info kept as private)."""
    error = trial.info.get("error") if trial.state is TrialState.FAILED else None
    return Result(
        metrics=dict(trial.metrics),
        cost=trial.cost,
        curve=trial.curve,
        private=dict(trial.info),
        stopped=trial.state is TrialState.STOPPED,
        error=error,
    )
