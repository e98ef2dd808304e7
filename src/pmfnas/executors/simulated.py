"""Simulated workers on the evaluator's virtual clock (tabular benchmarks).

As Syne Tune's simulator backend does, an evaluation is looked up at once and *finishes* its
cost later on the worker it was given, so a k-worker search is simulated exactly,
deterministically and without sleeping.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Evaluator
from pmfnas.executors.base import Guarded, Job, check_workers
from pmfnas.types import Result


@dataclass(order=True)
class _Event:
    finish: float
    order: int
    ticket: int = field(compare=False)
    result: Result = field(compare=False)


class SimulatedExecutor:
    """``workers`` simulated workers on a virtual clock.

    :meth:`submit` needs a free worker; :meth:`wait` returns the evaluation that finishes first
    (ties: the one submitted first) and moves the clock to its finish.
    """

    kind = "simulated"
    virtual_clock = True
    local = True

    def __init__(self, workers: int) -> None:
        self.workers = check_workers(workers)
        self.clock = 0.0
        self._events: list[_Event] = []
        self._submitted = 0
        self._evaluate: Guarded | None = None

    def start(self, evaluator: Evaluator, clock_from: float = 0.0) -> None:
        if evaluator.budget_unit == "wall":
            raise ConfigError(
                "simulated workers need an evaluator with a virtual clock (a tabular benchmark), "
                "not a wall-time budget"
            )
        self._evaluate, self.clock = Guarded(evaluator), clock_from

    def now(self) -> float:
        return self.clock

    @property
    def running(self) -> int:
        return len(self._events)

    def committed(self) -> float:
        return sum(event.finish - self.clock for event in self._events)

    def submit(self, ticket: int, job: Job) -> None:
        """Start ``job`` on a free worker at its own start (by default now)."""
        if self._evaluate is None:
            raise ConfigError("the executor was not started")
        if self.running >= self.workers:
            raise ConfigError(f"all {self.workers} workers are busy")
        result = self._evaluate.run(job)
        start = self.clock if job.started is None else job.started
        heapq.heappush(self._events, _Event(start + result.cost, self._submitted, ticket, result))
        self._submitted += 1

    def wait(self, timeout: float | None = None) -> tuple[int, Result]:
        """The ticket and result of the evaluation that finishes next (never times out)."""
        if not self._events:
            raise ConfigError("nothing is running")
        event = heapq.heappop(self._events)
        self.clock = event.finish
        return event.ticket, event.result

    def heartbeats(self) -> dict[int, float]:
        return {}

    def close(self) -> None:
        self._events.clear()
