"""What every executor offers the asynchronous study loop, and the one task they run.

An executor runs evaluations on its workers: :meth:`Executor.start` hands the workers the
evaluator once (a process or Ray worker gets its own copy), :meth:`Executor.submit` starts one
evaluation on a free worker under a ticket, :meth:`Executor.wait` gives back the ticket and
result of the next one to finish. :meth:`Executor.now` is the clock the budget is spent on:
virtual seconds for simulated workers, and for real ones the wall seconds since the search
started, or, under a budget of another unit (FLOPs), the cost of what has finished.

An evaluation runs through :class:`Guarded`, which turns a failure of that one evaluation (an
exception, a non-finite loss) into a result with an ``error``, so that the search goes on. The
process and Ray executors run any picklable :class:`Runner` the same way
(``start_runner``): ``pmfnas bench`` runs whole searches on them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pmfnas.errors import ConfigError, PmfnasError
from pmfnas.evaluators.base import BudgetUnit, Evaluator
from pmfnas.types import Arch, Fidelity, Result


@dataclass(frozen=True)
class Job:
    """One evaluation to run: ``started`` is the clock it was first submitted at (a resumed
    simulated search restarts the jobs it had in flight at their own start)."""

    arch: Arch
    fidelity: Fidelity
    limit: float | None
    started: float | None = None


class Runner(Protocol):
    """What a worker runs: one job in, its outcome out (:class:`Guarded` runs evaluations)."""

    def run(self, job: Any) -> Any: ...


class Executor(Protocol):
    """Runs evaluations on ``workers`` workers (see the module docstring)."""

    workers: int
    kind: str
    virtual_clock: bool
    """Whether :meth:`now` is simulated time (several workers' seconds run side by side);
    otherwise it is wall time or, under another unit, the work done."""
    local: bool
    """Whether evaluations run on this process's evaluator (which then learns from them
    itself); otherwise on copies elsewhere, whose trials it is shown."""

    def start(self, evaluator: Evaluator, clock_from: float = 0.0) -> None:
        """Give the workers ``evaluator``; the clock starts at ``clock_from`` (a resume)."""
        ...

    def now(self) -> float: ...

    @property
    def running(self) -> int:
        """Evaluations submitted and not yet returned by :meth:`wait`."""
        ...

    def committed(self) -> float:
        """Worker time the running evaluations are still expected to need (0: unknown)."""
        ...

    def submit(self, ticket: int, job: Job) -> None: ...

    def wait(self, timeout: float | None = None) -> tuple[int, Result] | None:
        """The next finished evaluation; ``None`` if none finished within ``timeout`` s."""
        ...

    def heartbeats(self) -> dict[int, float]:
        """The last sign of life (``time.time()``) of each running ticket's worker."""
        ...

    def close(self) -> None:
        """Stop the workers (an evaluation still running is abandoned)."""
        ...


class Guarded:
    """``evaluate`` that reports a failure as a result with an ``error`` instead of ending the
    search: an exception (out of memory, a crash in training code) or a non-finite validation
    accuracy or loss. pmfnas's own errors (bad input, a missing table) still end it: every
    evaluation would fail alike. Picklable when the evaluator is, for worker processes."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def __call__(self, arch: Arch, fidelity: Fidelity, limit: float | None) -> Result:
        try:
            result = self.evaluator.evaluate(arch, fidelity, limit)
        except PmfnasError:
            raise
        except Exception as error:  # any failure of this one evaluation
            return Result(metrics={}, cost=0.0, error=f"{type(error).__name__}: {error}")
        broken = [
            k for k in ("val_acc", "val_loss") if not math.isfinite(result.metrics.get(k, 0.0))
        ]
        if broken:
            return replace(result, error=f"non-finite {' and '.join(broken)}")
        return result

    def run(self, job: Job) -> Result:
        return self(job.arch, job.fidelity, job.limit)


class RealClock:
    """The clock of real workers: wall seconds since :meth:`start` under a wall budget, else
    the cost of the results that have arrived (a FLOPs budget is the work done)."""

    def __init__(self) -> None:
        self._wall = True
        self._base = 0.0
        self._start = time.perf_counter()

    def start(self, unit: BudgetUnit, clock_from: float) -> None:
        self._wall = unit == "wall"
        self._base, self._start = clock_from, time.perf_counter()

    def now(self) -> float:
        if self._wall:
            return self._base + time.perf_counter() - self._start
        return self._base

    def arrived(self, result: Result) -> None:
        if not self._wall:
            self._base += result.cost


def check_workers(workers: int) -> int:
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    return workers
