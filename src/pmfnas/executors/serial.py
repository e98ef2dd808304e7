"""One evaluation at a time in this process: the reference executor."""

from __future__ import annotations

import time

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Evaluator
from pmfnas.executors.base import Guarded, Job, RealClock
from pmfnas.types import Result


class SerialExecutor:
    """Runs each evaluation when it is waited for, in this process, on one worker."""

    kind = "serial"
    virtual_clock = False
    local = True
    workers = 1

    def __init__(self) -> None:
        self._clock = RealClock()
        self._job: tuple[int, Job] | None = None
        self._evaluate: Guarded | None = None

    def start(self, evaluator: Evaluator, clock_from: float = 0.0) -> None:
        self._evaluate = Guarded(evaluator)
        self._clock.start(evaluator.budget_unit, clock_from)

    def now(self) -> float:
        return self._clock.now()

    @property
    def running(self) -> int:
        return int(self._job is not None)

    def committed(self) -> float:
        return 0.0

    def submit(self, ticket: int, job: Job) -> None:
        if self._evaluate is None:
            raise ConfigError("the executor was not started")
        if self._job is not None:
            raise ConfigError("the serial executor's one worker is busy")
        self._job = (ticket, job)

    def wait(self, timeout: float | None = None) -> tuple[int, Result]:
        if self._job is None or self._evaluate is None:
            raise ConfigError("nothing is running")
        (ticket, job), self._job = self._job, None
        result = self._evaluate.run(job)
        self._clock.arrived(result)
        return ticket, result

    def heartbeats(self) -> dict[int, float]:
        return {self._job[0]: time.time()} if self._job else {}

    def close(self) -> None:
        self._job = None
