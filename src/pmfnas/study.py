"""The search loop: ask → check the budget → evaluate → store → tell, until the budget is spent.

A study with storage is resumable by replay: the strategy is rebuilt from its parameters and seed,
and each request it makes is answered from the stored trial of the same number (no evaluation,
same cost charged) until the stored history runs out; from there on the search continues live. A
request that differs from the stored one means the configuration changed: that is an error, not a
silent mix of two searches. A budget smaller than what the stored study spent replays it up to
that budget and returns what it had found there, as if it had stopped then.

How the budget is spent depends on the evaluator's unit: by each evaluation's cost (simulated
seconds, FLOPs), or under a wall-clock budget by the time the search has run, its own overhead
included, so that ``--budget 2m`` means two minutes. An evaluation gets the budget left as its
limit; one stopped there (a training cut at a batch boundary) is stored as ``stopped``, never
shown to the strategy and never returned, and a resume runs it again.

A strategy that stops asking says why (:attr:`~pmfnas.strategies.base.BaseStrategy.unaffordable`,
``finished_because``), so that a search ended by its budget says so rather than "strategy
finished". A :class:`StudyWatcher` hears the course of the search as it runs (the CLI's trial
log).

An evaluation that fails (an exception other than pmfnas's own input errors, or a non-finite
validation accuracy or loss: :func:`guarded`) is stored as ``failed`` with its error, run again
up to ``retries`` times (those attempts are stored marked ``retried`` and never told), and then
told to the strategy, which goes on, unless ``max_failures`` evaluations have failed in a row:
then something is wrong with every evaluation, and the search stops, naming the last error. A
replay follows the stored attempts as they happened.

A trial's info holds what the strategy said about its request (``Request.info``: why, what it
predicted) and what the evaluator measured but the strategy must not see (test accuracy); a
replayed trial keeps the info it was stored with.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pmfnas.errors import ConfigError, StorageError, StrategyError
from pmfnas.evaluators.base import Evaluator
from pmfnas.executors import Guarded, Job
from pmfnas.spaces.base import SearchSpace
from pmfnas.storage import Storage
from pmfnas.strategies.base import AskContext, BaseStrategy, Wait
from pmfnas.strategies.parameters import declared_defaults
from pmfnas.types import Arch, Budget, Fidelity, Progress, Request, Result, Trial, TrialState
from pmfnas.units import format_amount

MAX_REPEATS_IN_A_ROW = 1000
"""A strategy that only re-asks evaluated architectures this many times in a row is stuck."""

RETRIES = 1
"""Times a failed evaluation is run again, by default, before the strategy is told it failed."""

MAX_FAILURES_IN_A_ROW = 10
"""Evaluations told failed in a row (each after its retries) after which a search stops, by
default: an evaluator that fails every time spends nothing, so no budget would end it."""

CLOCK_TOLERANCE = 1e-9
"""Rounding slack of accumulated clocks, as :meth:`pmfnas.types.Budget.fits` allows."""


INTERRUPTED = "interrupted"
"""The stop reason of a study stopped by an interrupt (Ctrl-C, or SIGTERM in the CLI)."""


class StudyWatcher:
    """Hears a study's course as it runs, for people to follow it (the CLI's trial log and
    live line). Every method does nothing here: a watcher overrides what it shows."""

    def planned(self, rungs: Sequence[str]) -> None:
        """The fidelities the strategy climbs, cheapest first (told before the study runs, by
        the use case that knows them: :func:`pmfnas.runs.search.run_spec`)."""

    def replayed(self, study: str, trials: int) -> None:
        """A resumed study has replayed its ``trials`` stored trials (told once, when the
        replay ends)."""

    def started(self, number: int, request: Request, spent: float, budget: float) -> None:
        """Trial ``number`` is about to be evaluated (not told for a replayed or reused one),
        when the search has spent ``spent`` of ``budget``."""

    def finished(self, trial: Trial, spent: float, budget: float) -> None:
        """A live trial (evaluated, reused or stopped at the budget) is stored; ``spent`` of
        ``budget`` is what the search has spent so far."""


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
        retries: how many times a failed evaluation is run again before the strategy is told
            it failed.
        max_failures: evaluations told failed in a row after which the search stops.
        clock: what times the strategy and the run, and spends a wall-clock budget (a test
            may pass a fake one).
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
        reuse: bool = True,
        retries: int = RETRIES,
        max_failures: int = MAX_FAILURES_IN_A_ROW,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.space = space
        self.evaluator = evaluator
        self.strategy = strategy
        self.budget = Budget(budget)
        self.storage = storage
        self.name = name
        self.reuse = reuse
        self.retries = retries
        self.max_failures = FailuresInARow.checked(max_failures)
        self.clock = clock

    def config(self) -> dict[str, Any]:
        """Everything that determines the trials (the budget does not: a study may be extended)."""
        return study_config(self.space, self.evaluator, self.strategy, self.reuse)

    def run(
        self, progress: Progress | None = None, watcher: StudyWatcher | None = None
    ) -> StudyResult:
        """Search until the budget or the strategy is exhausted, or until an interrupt (Ctrl-C:
        the partial result, stop reason ``interrupted``); resume from storage if any.
        ``progress`` hears (spent, budget) after every trial, replayed ones too; ``watcher``
        the trials themselves.

        With storage, the study is leased to this process while it runs: a second process
        running the same study at once is refused (:meth:`pmfnas.storage.Storage.lease`).
        """
        watcher = watcher or StudyWatcher()
        if self.storage is None:
            return self._search(0, [], progress, watcher)
        study_id = stored_study(self.storage, self.name, self.config(), self.strategy)
        with self.storage.lease(study_id, self.name):
            stored = self.storage.trials(study_id, self.space)
            return self._search(study_id, stored, progress, watcher)

    def _search(
        self,
        study_id: int,
        stored: list[Trial],
        progress: Progress | None,
        watcher: StudyWatcher,
    ) -> StudyResult:
        started = self.clock()
        own = 0.0  # seconds inside the strategy's ask and tell
        limit = self.budget.limit
        # A stored study made under a larger budget replays as it ran, and stops at this one.
        planned = self.storage.budget(study_id) if self.storage else None
        plan = planned if planned is not None and planned > limit else limit
        unit = self.evaluator.budget_unit
        spending = _Spending(self.budget, self.clock if unit == "wall" else None)
        trials: list[Trial] = []
        seen: dict[tuple[Arch, Fidelity], Trial] = {}
        repeats = attempts = 0  # attempts: failed runs of the current request
        failures = FailuresInARow(self.max_failures)
        retry: Request | None = None  # a failed request to run again
        stop_reason = "budget spent"
        replaying = bool(stored)
        try:
            while True:
                number = len(trials)
                replay = number < len(stored) and stored[number].state is not TrialState.STOPPED
                if not replay:
                    if replaying and number:
                        watcher.replayed(self.name, number)
                    replaying = False
                    spending.go_live()
                if retry is None:
                    mark = self.clock()
                    request = self.strategy.ask(AskContext(plan - self.budget.spent))
                    own += self.clock() - mark
                    if request is None:
                        stop_reason = finished_reason(self.strategy, unit)
                        break
                    if isinstance(request, Wait):
                        raise StrategyError(waits_for_nothing(self.strategy))
                    attempts = 0
                else:
                    request, retry = retry, None
                earlier = seen.get((request.arch, request.fidelity)) if self.reuse else None
                if replay:
                    trial = self._replayed(stored[number], request)
                    if trial.clock > limit + CLOCK_TOLERANCE:
                        stop_reason = (
                            f"budget spent (the stored study went on to "
                            f"{format_amount(stored[-1].clock, unit)}; its later trials are not used)"
                        )
                        break
                    self.evaluator.observe(trial)
                    spending.replayed(trial)
                elif earlier is not None:
                    spending.charge(0.0)
                    trial = reused_trial(number, request, earlier, self.budget.spent)
                else:
                    expected = self.evaluator.expected_cost(request.arch, request.fidelity)
                    left = limit - spending.now()
                    if left <= 0:
                        break
                    if expected is not None and expected > left + CLOCK_TOLERANCE:
                        what = f"{request.fidelity} of {self.space.format(request.arch)}"
                        stop_reason = cannot_pay(left, what, expected, unit)
                        break
                    watcher.started(number, request, self.budget.spent, self.budget.limit)
                    trial = self._evaluated(number, request, left, spending)
                    if trial.state is TrialState.FAILED and attempts < self.retries:
                        trial = replace(trial, info={**trial.info, "retried": True})
                attempts += trial.state is TrialState.FAILED
                if self.storage and not replay:
                    self.storage.append(study_id, trial, self.space)
                trials.append(trial)
                if not replay:
                    watcher.finished(trial, self.budget.spent, self.budget.limit)
                if trial.state is TrialState.STOPPED:
                    stop_reason = (
                        f"budget spent during {request.fidelity} of "
                        f"{self.space.format(request.arch)} (stopped after "
                        f"{trial.info.get('epochs_done', 0.0):.2f} epochs)"
                    )
                    break
                if trial.retried:  # run it again before the strategy hears of it
                    retry = request
                    if progress:
                        progress(self.budget.spent, self.budget.limit)
                    continue
                repeats = repeats + 1 if trial.state is TrialState.REUSED else 0
                if trial.measured:
                    seen.setdefault((trial.arch, trial.fidelity), trial)
                mark = self.clock()
                self.strategy.tell(trial)
                own += self.clock() - mark
                if progress:
                    progress(self.budget.spent, self.budget.limit)
                if repeats >= MAX_REPEATS_IN_A_ROW:
                    stop_reason = f"strategy repeated evaluated requests {repeats} times in a row"
                    break
                if (why := failures.told(trial)) is not None:
                    stop_reason = why
                    break
        except KeyboardInterrupt:  # stop cleanly: the stored trials stay, a rerun resumes
            stop_reason = INTERRUPTED
        if replaying and trials:  # the whole search was a replay
            watcher.replayed(self.name, len(trials))
        if self.storage:
            self.storage.finish(study_id, plan, stop_reason)
        evidence = [t for t in trials if t.measured]
        return StudyResult(
            trials=trials,
            best=self.strategy.best(evidence),
            spent=self.budget.spent,
            budget=self.budget.limit,
            stop_reason=stop_reason,
            strategy_seconds=own,
            wall_seconds=self.clock() - started,
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

    def _evaluated(self, number: int, request: Request, limit: float, spending: _Spending) -> Trial:
        started = time.time()
        result = Guarded(self.evaluator).run(Job(request.arch, request.fidelity, limit))
        spending.charge(result.cost)
        return evaluated_trial(number, request, result, started, self.budget.spent)


def stored_study(
    storage: Storage, name: str, config: dict[str, Any], strategy: BaseStrategy
) -> int:
    """The id of study ``name`` in ``storage`` (:meth:`~pmfnas.storage.Storage.study`), where a
    parameter the strategy gained since the study was stored stands at its default."""
    return storage.study(name, config, defaults=declared_defaults(type(strategy)))


def study_config(
    space: SearchSpace, evaluator: Evaluator, strategy: BaseStrategy, reuse: bool
) -> dict[str, Any]:
    """The settings a stored study must be resumed with: what determines its trials."""
    return {
        "space": space.name,
        "evaluator": evaluator.describe(),
        "strategy": strategy.name,
        "params": strategy.params(),
        "seed": strategy.seed,
        "reuse": reuse,
    }


def evaluated_trial(
    number: int, request: Request, result: Result, started: float, clock: float
) -> Trial:
    """The trial of an evaluated ``request``: ``started`` is its wall time, ``clock`` what the
    budget had spent when it finished."""
    state = TrialState.COMPLETE
    if result.error:
        state = TrialState.FAILED
    elif result.stopped:
        state = TrialState.STOPPED
    error = {"error": result.error} if result.error else {}
    return Trial(
        number=number,
        arch=request.arch,
        fidelity=request.fidelity,
        state=state,
        metrics=dict(result.metrics),
        cost=result.cost,
        clock=clock,
        curve=result.curve,
        reason=request.reason,
        started=started,
        finished=time.time(),
        info={**request.info, **result.private, **error},
    )


def reused_trial(number: int, request: Request, earlier: Trial, clock: float) -> Trial:
    """A repeated ``request`` served from the ``earlier`` trial, at no cost."""
    now = time.time()
    return Trial(
        number=number,
        arch=request.arch,
        fidelity=request.fidelity,
        state=TrialState.REUSED,
        metrics=dict(earlier.metrics),
        cost=0.0,
        clock=clock,
        curve=earlier.curve,
        reason=request.reason,
        started=now,
        finished=now,
        info={**request.info, "reused_trial": earlier.number},
    )


class FailuresInARow:
    """Counts the evaluations told failed since the last that did not fail; says when there
    have been too many."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    @staticmethod
    def checked(limit: int) -> int:
        """``limit``, refused unless at least 1 (a study checks it when it is made)."""
        if limit < 1:
            raise ConfigError(
                f"the failures in a row that stop a search must be at least 1, got {limit}"
            )
        return limit

    def told(self, trial: Trial) -> str | None:
        """Count ``trial`` (a reused one repeats an earlier result and counts for nothing); why
        the search must stop, if it must."""
        if trial.state is TrialState.REUSED:
            return None
        self.count = self.count + 1 if trial.state is TrialState.FAILED else 0
        if self.count < self.limit:
            return None
        return f"{self.count} evaluations failed in a row (the last: {trial.info.get('error')})"


def finished_reason(strategy: BaseStrategy, unit: str) -> str:
    """Why the strategy stopped asking: the budget, when its next step would cost more than
    was left, else its own plan."""
    step = strategy.unaffordable
    if step is not None and step.left <= CLOCK_TOLERANCE:
        return "budget spent"
    if step is not None:
        what = f"another {step.fidelity} evaluation"
        return cannot_pay(step.left, what, step.cost, unit, f"{strategy.name}'s estimate")
    because = strategy.finished_because
    return f"strategy finished: {because}" if because else "strategy finished"


def waits_for_nothing(strategy: BaseStrategy) -> str:
    """The error of a strategy that answers WAIT with nothing in flight."""
    return f"strategy {strategy.name!r} waits for a result while nothing is in flight"


class _Spending:
    """Keeps ``budget.spent`` up to date: the clock of the last replayed trial, then each
    evaluation's cost, or with a wall ``clock`` the time the live search has run."""

    def __init__(self, budget: Budget, clock: Callable[[], float] | None) -> None:
        self.budget = budget
        self.clock = clock
        self._start: float | None = None
        self._base = 0.0

    def replayed(self, trial: Trial) -> None:
        self.budget.spent = trial.clock

    def go_live(self) -> None:
        """Start the wall clock at the first request after the replay."""
        if self.clock is not None and self._start is None:
            self._start, self._base = self.clock(), self.budget.spent

    def now(self) -> float:
        """What the budget has spent at this moment."""
        if self.clock is not None and self._start is not None:
            return self._base + self.clock() - self._start
        return self.budget.spent

    def charge(self, cost: float) -> None:
        self.budget.spent = self.now() if self.clock is not None else self.budget.spent + cost


def cannot_pay(left: float, what: str, expected: float, unit: str, whose: str = "") -> str:
    """The stop reason of a search whose next step costs more than the budget left (``whose``
    estimate that cost is, when not the evaluator's)."""
    return (
        f"the remaining {format_amount(left, unit)} cannot pay for {what} "
        f"(≈ {format_amount(expected, unit)}{', ' + whose if whose else ''})"
    )


def trials_per_fidelity(trials: list[Trial]) -> dict[str, int]:
    """How many trials each fidelity received, cheapest first (reused ones included, stopped
    and failed ones not: they did not finish)."""
    counts = Counter(t.fidelity for t in trials if t.measured)
    return {str(f): counts[f] for f in sorted(counts)}


def anytime_best(
    strategy: BaseStrategy, trials: Sequence[Trial], points: Sequence[float]
) -> list[Trial | None]:
    """The strategy's returned trial had the search stopped at each cost point.

    That is ``strategy.best`` of the trials whose clock (budget spent after them) is at most the
    point; ``trials`` are in study order, so the clock never decreases and they form a prefix.
    """
    clocks = [t.clock for t in trials]
    picks: dict[int, Trial | None] = {}
    result = []
    for point in points:
        n = bisect.bisect_right(clocks, point + CLOCK_TOLERANCE)
        if n not in picks:
            picks[n] = strategy.best(trials[:n])
        result.append(picks[n])
    return result
