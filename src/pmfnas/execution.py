"""Executors run evaluation requests; the study does not care where.

:class:`SerialExecutor` runs one evaluation at a time in this process (the reference).
:class:`SimulatedExecutor` runs ``workers`` evaluations at once on the evaluator's virtual clock,
as Syne Tune's simulator backend does for tabular benchmarks: an evaluation is looked up at once
and *finishes* its cost later on the worker it was given, so a k-worker search is simulated
exactly, deterministically and without sleeping.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from pmfnas.errors import ConfigError
from pmfnas.types import Arch, Fidelity, Result

Evaluate = Callable[[Arch, Fidelity, float | None], Result]
"""An evaluator's ``evaluate(arch, fidelity, limit)``."""


class SerialExecutor:
    """Run each evaluation in this process, one after the other (the default, and the reference)."""

    workers = 1

    def run(
        self, evaluate: Evaluate, arch: Arch, fidelity: Fidelity, limit: float | None = None
    ) -> Result:
        return evaluate(arch, fidelity, limit)


@dataclass(order=True)
class _Event:
    finish: float
    order: int
    ticket: int = field(compare=False)
    result: Result = field(compare=False)


class SimulatedExecutor:
    """``workers`` simulated workers on a virtual clock that starts at 0.

    :meth:`submit` needs a free worker; :meth:`wait` returns the evaluation that finishes first
    (ties: the one submitted first) and moves the clock to its finish.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.clock = 0.0
        self._events: list[_Event] = []
        self._submitted = 0

    @property
    def running(self) -> int:
        """Evaluations submitted and not yet returned by :meth:`wait`."""
        return len(self._events)

    def committed(self) -> float:
        """Worker time the running evaluations still need (from now to their finish)."""
        return sum(event.finish - self.clock for event in self._events)

    def submit(
        self,
        ticket: int,
        evaluate: Evaluate,
        arch: Arch,
        fidelity: Fidelity,
        limit: float | None = None,
    ) -> None:
        """Start ``evaluate(arch, fidelity, limit)`` now on a free worker, known by ``ticket``."""
        if self.running >= self.workers:
            raise ConfigError(f"all {self.workers} workers are busy")
        result = evaluate(arch, fidelity, limit)
        heapq.heappush(
            self._events, _Event(self.clock + result.cost, self._submitted, ticket, result)
        )
        self._submitted += 1

    def wait(self) -> tuple[int, Result]:
        """The ticket and result of the evaluation that finishes next."""
        if not self._events:
            raise ConfigError("nothing is running")
        event = heapq.heappop(self._events)
        self.clock = event.finish
        return event.ticket, event.result
