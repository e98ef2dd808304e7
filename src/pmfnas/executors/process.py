"""Local worker processes: one evaluation per process at a time, threads and GPUs per worker.

Each worker is a process of its own (started with ``spawn``, so CUDA works in it), given the
evaluator once and then one job at a time over a pipe. While it evaluates, a thread of the
worker sends a heartbeat every :data:`BEAT_SECONDS`. A worker that dies (killed, out of
memory) or, once it has started, falls silent for ``stale_after`` seconds is replaced by a fresh
process, and its job comes back as a failed result, which the study runs again (``retries``)
like any failure: no trial is lost, none is counted twice. A worker that cannot load the
evaluator (a module that does not import in a fresh process, a script without a ``__main__``
guard) would fail again however often it were replaced: that ends the search with one line.

Threads: each worker's PyTorch uses ``threads`` (by default the machine's cores shared out),
set before PyTorch starts. GPUs: ``gpus=(0, 1)`` gives worker *i* the GPU ``gpus[i % len]``
(``CUDA_VISIBLE_DEVICES``, so the evaluator's ``cuda`` is that GPU); ``trials_per_gpu=2`` puts
two workers on each GPU to pack small trainings.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from pmfnas.errors import ConfigError, PmfnasError
from pmfnas.evaluators.base import BudgetUnit, Evaluator
from pmfnas.executors.base import Guarded, Job, RealClock, Runner, check_workers
from pmfnas.types import Result

BEAT_SECONDS = 2.0
"""How often a busy worker says it is alive."""

STALE_AFTER = 600.0
"""A busy worker silent for this long is presumed hung: it is replaced, its job failed."""

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_worker(workers: int) -> int:
    """PyTorch threads for each of ``workers`` processes: the machine's cores shared out."""
    return max(1, (os.cpu_count() or 1) // workers)


def _serve(conn: Connection, environment: dict[str, str], threads: int, beat: float) -> None:
    """A worker's life: take the evaluator, then evaluate jobs until told to stop (``None``);
    a worker whose driver is gone (killed) ends at once, even mid-evaluation."""
    os.environ.update(environment)  # before PyTorch is imported by the unpickling
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    driver = os.getppid()
    try:
        payload = conn.recv_bytes()
        try:
            runner: Runner = pickle.loads(payload)
        except Exception as error:  # a module that does not import here: the driver must hear it
            conn.send(("unloadable", None, f"{type(error).__name__}: {error}"))
            return
        if "torch" in sys.modules:  # the runner trains: its threads, set once
            sys.modules["torch"].set_num_threads(threads)
        conn.send(("ready", None, None))
        sending = threading.Lock()
        while (message := conn.recv()) is not None:
            ticket, job = message
            done = threading.Event()

            def alive(ticket: int = ticket, done: threading.Event = done) -> None:
                while not done.wait(beat):
                    if os.getppid() != driver:
                        os._exit(1)  # orphaned: nobody will read the result
                    with sending:
                        conn.send(("beat", ticket, None))

            beating = threading.Thread(target=alive, daemon=True)
            beating.start()
            try:
                reply: tuple[str, int, Any] = ("result", ticket, runner.run(job))
            except PmfnasError as error:  # bad input: the driver ends the search with it
                reply = ("raise", ticket, error)
            done.set()
            beating.join()
            with sending:
                conn.send(reply)
    except (EOFError, OSError):  # the driver closed the pipe or died: nothing to report to
        return


def _hand_over(conn: Connection, payload: bytes) -> None:
    """Send a new worker its runner. A large one fills the pipe until the worker, once it has
    started, reads it: in a thread of its own, the next worker starts meanwhile. A worker that
    died first cannot read it; its exit tells the driver so."""
    with contextlib.suppress(OSError):
        conn.send_bytes(payload)


@dataclass
class _Worker:
    slot: int
    process: Any
    conn: Connection
    loading: threading.Thread  # hands the runner over; the pipe is free once it has ended
    job: tuple[int, Job] | None = None
    beat: float = 0.0
    ready: bool = False  # it has loaded the evaluator: from then on it must beat


class ProcessExecutor:
    """``workers`` local worker processes (see the module docstring).

    Args:
        workers: processes (default: one per GPU and trial slot, else one per core).
        threads: PyTorch threads per worker (default: the cores shared out, at least 1).
        gpus: GPU indices to assign to the workers (none: CPU only).
        trials_per_gpu: workers sharing one GPU.
        stale_after: seconds of silence after which a busy worker is replaced.
        beat: seconds between a busy worker's heartbeats.
    """

    kind = "process"
    virtual_clock = False
    local = False

    def __init__(
        self,
        workers: int | None = None,
        *,
        threads: int | None = None,
        gpus: Sequence[int] = (),
        trials_per_gpu: int = 1,
        stale_after: float = STALE_AFTER,
        beat: float = BEAT_SECONDS,
    ) -> None:
        cores = os.cpu_count() or 1
        if trials_per_gpu < 1:
            raise ConfigError(f"trials per GPU must be at least 1, got {trials_per_gpu}")
        default = len(gpus) * trials_per_gpu if gpus else cores
        self.workers = check_workers(default if workers is None else workers)
        self.threads = threads_per_worker(self.workers) if threads is None else threads
        if self.threads < 1:
            raise ConfigError(f"threads per worker must be at least 1, got {self.threads}")
        self.gpus = tuple(gpus)
        self.stale_after, self.beat = stale_after, beat
        self._clock = RealClock()
        self._payload = b""
        self._workers: list[_Worker] = []
        self._context = multiprocessing.get_context("spawn")

    def environment(self, slot: int) -> dict[str, str]:
        """The variables worker ``slot`` starts with: its threads and its GPU."""
        environment = dict.fromkeys(_THREAD_VARIABLES, str(self.threads))
        if self.gpus:
            environment["CUDA_VISIBLE_DEVICES"] = str(self.gpus[slot % len(self.gpus)])
        return environment

    def start(self, evaluator: Evaluator, clock_from: float = 0.0) -> None:
        self.start_runner(Guarded(evaluator), evaluator.budget_unit, clock_from)

    def start_runner(
        self, runner: Runner, unit: BudgetUnit = "wall", clock_from: float = 0.0
    ) -> None:
        """Start the workers with ``runner``, which each job is given to."""
        try:
            self._payload = pickle.dumps(runner)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise ConfigError(
                f"the evaluator cannot be sent to worker processes ({error})"
            ) from None
        self._workers = [self._spawn(slot) for slot in range(self.workers)]
        self._clock.start(unit, clock_from)

    def _spawn(self, slot: int) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(theirs, self.environment(slot), self.threads, self.beat),
            name=f"pmfnas-worker-{slot}",
            daemon=True,
        )
        process.start()
        theirs.close()
        loading = threading.Thread(target=_hand_over, args=(ours, self._payload), daemon=True)
        loading.start()
        return _Worker(slot, process, ours, loading)

    def now(self) -> float:
        return self._clock.now()

    @property
    def running(self) -> int:
        return sum(w.job is not None for w in self._workers)

    def committed(self) -> float:
        return 0.0

    def pids(self) -> dict[int, int]:
        """The process id of each running ticket's worker (a fault test kills one)."""
        return {w.job[0]: w.process.pid for w in self._workers if w.job}

    def submit(self, ticket: int, job: Any) -> None:
        idle = [w for w in self._workers if w.job is None]
        if not self._workers:
            raise ConfigError("the executor was not started")
        if not idle:
            raise ConfigError(f"all {self.workers} workers are busy")
        worker = idle[0]
        worker.job, worker.beat = (ticket, job), time.time()
        worker.loading.join()
        with contextlib.suppress(OSError):  # it has died: wait() hears of it by its exit
            worker.conn.send((ticket, job))

    def wait(self, timeout: float | None = None) -> tuple[int, Result] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            busy = [w for w in self._workers if w.job is not None]
            if not busy:
                raise ConfigError("nothing is running")
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            pause = self.beat if left is None else min(left, self.beat)
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], pause))
            for worker in busy:
                if worker.conn in ready or worker.conn.poll():
                    finished = self._receive(worker)
                    if finished is not None:
                        return finished
                elif worker.process.sentinel in ready:
                    return self._replace(worker, _ended(worker))
                elif worker.ready and time.time() - worker.beat > self.stale_after:
                    return self._replace(worker, f"no heartbeat for {self.stale_after:g} s")
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def _receive(self, worker: _Worker) -> tuple[int, Result] | None:
        try:
            kind, ticket, body = worker.conn.recv()
        except (EOFError, OSError):
            return self._replace(worker, _ended(worker))
        worker.beat = time.time()
        if kind in ("ready", "beat"):
            worker.ready = True
            return None
        if kind == "unloadable":
            raise ConfigError(f"a worker process could not load the evaluator ({body})")
        worker.job = None
        if kind == "raise":
            raise body
        self._clock.arrived(body)
        return ticket, body

    def _replace(self, worker: _Worker, why: str) -> tuple[int, Result]:
        """Put a fresh process in the place of a dead or hung ``worker``; its job failed.
        One that died before it loaded the evaluator would die again: that ends the search."""
        assert worker.job is not None
        if not worker.ready:
            worker.process.join()
            raise ConfigError(
                f"worker process {worker.process.pid} ended before it loaded the evaluator "
                f"({why}); a script that starts worker processes must run its search under "
                '`if __name__ == "__main__":`, and the evaluator must import in a fresh process'
            )
        ticket, _ = worker.job
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self._workers[self._workers.index(worker)] = self._spawn(worker.slot)
        error = (
            f"WorkerLost: worker process {worker.process.pid} ended during the evaluation ({why})"
        )
        return ticket, Result(metrics={}, cost=0.0, error=error)

    def heartbeats(self) -> dict[int, float]:
        return {w.job[0]: w.beat for w in self._workers if w.job}

    def close(self) -> None:
        for worker in self._workers:
            worker.loading.join(timeout=5.0)
            try:
                if worker.job is None and not worker.loading.is_alive():
                    worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(timeout=5.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []


def _ended(worker: _Worker) -> str:
    """How ``worker``'s ended process exited. Its sentinel is ready as it exits, before it can
    be reaped, so its exit code is read after joining it (before, it may still be ``None``)."""
    worker.process.join()
    return f"exit code {worker.process.exitcode}"
