"""Ray: each evaluation a Ray task, on a private local cluster or a running one.

Ray is an optional extra (``pip install 'pmfnas[ray]'``), imported only when this executor
starts. Without an ``address`` it starts a private local Ray instance with fixed resources (no
dashboard, a small object store) and shuts it down at the end; with one (``auto``, or
``host:port``) it joins that cluster and leaves it running. The evaluator goes to the object
store once; each task asks for ``cpus_per_trial`` CPUs and ``gpus_per_trial`` of a GPU (a
fraction packs small trainings on one GPU). Ray runs a task again by itself when its worker
dies (``max_retries``); one that still fails comes back as a failed result, which the study
handles like any failure. Ray watches its own workers, so the heartbeats are the driver's.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Any

from pmfnas.errors import ConfigError, PmfnasError
from pmfnas.evaluators.base import BudgetUnit, Evaluator
from pmfnas.executors.base import Guarded, RealClock, Runner, check_workers
from pmfnas.types import Result

OBJECT_STORE_BYTES = 200 * 1024**2
"""The object store of a private local instance: the evaluator and results are small."""

MAX_RETRIES = 3
"""Times Ray runs a task again after its worker died."""


def _evaluate(runner: Runner, job: Any) -> Any:
    """The task Ray runs: one job of the runner (from the object store): an evaluation."""
    return runner.run(job)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'pmfnas[ray]'") from None
    return ray


class RayExecutor:
    """Evaluations as Ray tasks (see the module docstring).

    Args:
        workers: tasks in flight at most (default: as many as the cluster's CPUs, and GPUs
            when trials ask for them, hold; known once started).
        address: a running cluster's address; ``None`` starts a private local instance.
        cpus_per_trial, gpus_per_trial: what each task asks Ray for.
        max_retries: Ray's retries of a task whose worker died.
        num_cpus: the CPUs of a private local instance (default: this machine's).
        object_store_memory: the object store of a private local instance, in bytes.
    """

    kind = "ray"
    virtual_clock = False
    local = False

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        max_retries: int = MAX_RETRIES,
        num_cpus: int | None = None,
        object_store_memory: int = OBJECT_STORE_BYTES,
    ) -> None:
        if workers is not None:
            check_workers(workers)
        if cpus_per_trial <= 0 or gpus_per_trial < 0:
            raise ConfigError("a Ray trial needs a positive share of CPUs and no negative GPUs")
        self.workers = workers or 1
        self._asked_workers = workers
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_trial, self.gpus_per_trial = cpus_per_trial, gpus_per_trial
        self.max_retries, self.object_store_memory = max_retries, object_store_memory
        self._clock = RealClock()
        self._ray: Any = None
        self._started_ray = False
        self._task: Any = None
        self._evaluator: Any = None
        self._running: dict[Any, tuple[int, float]] = {}  # object ref → ticket, submit time

    def start(self, evaluator: Evaluator, clock_from: float = 0.0) -> None:
        _import_ray()  # a missing extra is the first thing said
        self.start_runner(Guarded(evaluator), evaluator.budget_unit, clock_from)

    def start_runner(
        self, runner: Runner, unit: BudgetUnit = "wall", clock_from: float = 0.0
    ) -> None:
        """Join or start Ray and put ``runner``, which each task is given, in its object store."""
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            settings: dict[str, Any] = {"address": self.address, "log_to_driver": False}
            if self.address is None:
                settings |= {
                    "num_cpus": self.num_cpus or os.cpu_count() or 1,
                    "include_dashboard": False,
                    "object_store_memory": self.object_store_memory,
                }
            ray.init(**settings)
            self._started_ray = True
        self.workers = self._asked_workers or self._cluster_workers()
        self._evaluator = ray.put(runner)
        self._task = ray.remote(_evaluate).options(
            num_cpus=self.cpus_per_trial,
            num_gpus=self.gpus_per_trial,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        self._clock.start(unit, clock_from)

    def _cluster_workers(self) -> int:
        """How many trials the cluster's resources hold at once."""
        resources = self._ray.cluster_resources()
        fits = math.floor(resources.get("CPU", 1.0) / self.cpus_per_trial)
        if self.gpus_per_trial:
            fits = min(fits, math.floor(resources.get("GPU", 0.0) / self.gpus_per_trial))
        return max(1, fits)

    def now(self) -> float:
        return self._clock.now()

    @property
    def running(self) -> int:
        return len(self._running)

    def committed(self) -> float:
        return 0.0

    def submit(self, ticket: int, job: Any) -> None:
        if self._task is None:
            raise ConfigError("the executor was not started")
        if self.running >= self.workers:
            raise ConfigError(f"all {self.workers} workers are busy")
        self._running[self._task.remote(self._evaluator, job)] = (ticket, time.time())

    def wait(self, timeout: float | None = None) -> tuple[int, Result] | None:
        if not self._running:
            raise ConfigError("nothing is running")
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=timeout)
        if not ready:
            return None
        ticket, _ = self._running.pop(ready[0])
        try:
            result = self._ray.get(ready[0])
        except self._ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, PmfnasError):
                raise cause from None
            result = _lost(error)
        except self._ray.exceptions.RayError as error:  # its worker died past the retries
            result = _lost(error)
        self._clock.arrived(result)
        return ticket, result

    def heartbeats(self) -> dict[int, float]:
        return {ticket: time.time() for ticket, _ in self._running.values()}

    def close(self) -> None:
        for ref in self._running:
            with contextlib.suppress(Exception):  # a task may have ended meanwhile
                self._ray.cancel(ref, force=True)
        self._running.clear()
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False


def _lost(error: Exception) -> Result:
    """The failed result of a task Ray gave up on, with the first line of why."""
    why = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return Result(metrics={}, cost=0.0, error=f"WorkerLost: {type(error).__name__} {why}".strip())
