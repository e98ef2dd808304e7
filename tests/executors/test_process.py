"""Local worker processes: jobs run at once in separate processes, with their threads and GPU;
a worker killed or hung mid-evaluation is replaced and its trial run again by the study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pmfnas.errors import ConfigError
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.executors import Job, ProcessExecutor
from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import create_space
from pmfnas.storage import Storage
from pmfnas.strategies.base import SERIAL, BaseStrategy
from pmfnas.types import Fidelity, Request, Result, TrialState

SPACE = create_space("nb201")
E4 = Fidelity(epochs=4)
SAFETY = 120.0
"""Seconds after which a test waiting for a file gives up: a safety net, never a condition."""


class FileToy:
    """A picklable evaluator for worker processes that leaves a trace in ``folder``: each
    evaluation writes ``<arch>.<pid>``; an architecture named in ``hold`` waits there until a
    file ``go`` appears (so a test can kill the worker mid-evaluation); ``together`` makes the
    first two evaluations wait for each other (they finish only if they run at once)."""

    budget_unit = "flops"
    ladder = NB201_LADDER

    def __init__(self, folder: Path, hold: tuple = (), together: bool = False) -> None:
        self.folder, self.hold, self.together = folder, hold, together

    def describe(self) -> dict[str, str]:
        return {"benchmark": "file-toy"}

    def expected_cost(self, arch, fidelity) -> float:
        return float(fidelity.epochs or 1)

    def evaluate(self, arch, fidelity, limit=None) -> Result:
        import torch

        name = "".join(map(str, arch))
        first = not any(self.folder.glob(f"{name}.*"))
        (self.folder / f"{name}.{os.getpid()}").write_text(str(fidelity))
        if arch == (9,) * 6:
            raise ConfigError("a bad input ends the search")
        if self.together:
            _wait_for(lambda: len(list(self.folder.glob("*.*"))) >= 2)
        if arch in self.hold and first:
            _wait_for(lambda: (self.folder / "go").exists())
        private = {
            "threads": torch.get_num_threads(),
            "gpu": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "pid": os.getpid(),
        }
        acc = 50.0 + sum(arch)
        return Result(
            metrics={"val_acc": acc}, cost=self.expected_cost(arch, fidelity), private=private
        )

    def observe(self, trial) -> None:
        pass

    def test_accuracy(self, arch) -> None:
        return None


def _wait_for(condition) -> None:
    deadline = time.monotonic() + SAFETY
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("safety net reached")
        time.sleep(0.01)


@pytest.fixture
def executor():
    made: list[ProcessExecutor] = []

    def make(**kwargs) -> ProcessExecutor:
        made.append(ProcessExecutor(**kwargs))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_two_workers_evaluate_at_once_in_their_own_processes(executor, tmp_path) -> None:
    pool = executor(workers=2, threads=1, gpus=(3, 5))
    pool.start(FileToy(tmp_path, together=True))
    pool.submit(0, Job((1,) * 6, E4, None))
    pool.submit(1, Job((2,) * 6, E4, None))  # each waits for the other: they run at once
    with pytest.raises(ConfigError, match="busy"):
        pool.submit(2, Job((3,) * 6, E4, None))
    results = dict(pool.wait() for _ in range(2))
    assert sorted(results) == [0, 1] and os.getpid() not in {
        r.private["pid"] for r in results.values()
    }
    assert {r.private["gpu"] for r in results.values()} == {"3", "5"}  # one GPU each
    assert all(r.private["threads"] == 1 for r in results.values())
    assert pool.now() == 8.0  # a FLOPs budget's clock is the work that came back
    with pytest.raises(ConfigError, match="nothing is running"):
        pool.wait()


def test_threads_default_to_the_cores_shared_out() -> None:
    cores = os.cpu_count() or 1
    assert ProcessExecutor(workers=1).threads == cores
    assert ProcessExecutor(gpus=(0, 1), trials_per_gpu=2).workers == 4
    with pytest.raises(ConfigError, match="at least 1"):
        ProcessExecutor(workers=0)


def test_a_bad_input_in_a_worker_ends_the_search_with_its_error(executor, tmp_path) -> None:
    pool = executor(workers=1)
    pool.start(FileToy(tmp_path))
    pool.submit(0, Job((9,) * 6, E4, None))
    with pytest.raises(ConfigError, match="bad input ends the search"):
        pool.wait()


class Unloadable:
    """An evaluator that cannot be rebuilt in a worker process: there it raises (as a module
    missing there does) or, with ``dies``, ends the process (as a script without a
    ``__main__`` guard does when the worker runs it again)."""

    budget_unit = "flops"

    def __init__(self, dies: bool) -> None:
        self.dies = dies

    def __setstate__(self, state: dict) -> None:
        if state["dies"]:
            os._exit(3)
        raise ImportError("No module named 'gone'")


@pytest.mark.parametrize(
    "dies, message",
    [
        (True, r"ended before it loaded the evaluator \(exit code 3\).*__main__"),
        (False, r"could not load the evaluator \(ImportError: No module named 'gone'\)"),
    ],
)
def test_a_worker_that_cannot_load_the_evaluator_ends_the_search_at_once(
    executor, dies, message
) -> None:
    """Replacing it would only fail again, for ever: a search on a FLOPs budget, where a failed
    evaluation costs nothing, would never end."""
    pool = executor(workers=2, threads=1)
    pool.start(Unloadable(dies))
    pool.submit(0, Job((1,) * 6, E4, None))
    with pytest.raises(ConfigError, match=message):
        pool.wait()


SCRIPT = """
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.executors import ProcessExecutor
from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import create_space
from pmfnas.strategies import create_strategy
from pmfnas.types import Result


class Sizes:
    budget_unit = "flops"

    def describe(self):
        return {"benchmark": "sizes"}

    def expected_cost(self, arch, fidelity):
        return 1.0

    def evaluate(self, arch, fidelity, limit=None):
        return Result(metrics={"val_acc": float(sum(arch))}, cost=1.0)

    def observe(self, trial):
        pass


def search():
    space = create_space("nb201")
    strategy = create_strategy("random", space, seed=0, ladder=NB201_LADDER)
    executor = ProcessExecutor(workers=2, threads=1)
    return ParallelStudy(space, Sizes(), strategy, 4.0, executor=executor).run()
"""


@pytest.mark.parametrize("guarded", [True, False])
def test_a_script_without_a_main_guard_gets_one_line_saying_so(tmp_path, guarded) -> None:
    """Under ``spawn`` each worker runs the user's script again: without the guard it starts
    workers of its own there and dies; with it, the search runs."""
    ending = (
        'if __name__ == "__main__":\n    print(len(search().trials))' if guarded else "search()"
    )
    script = tmp_path / "search.py"
    script.write_text(f"{SCRIPT}\n{ending}\n")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=SAFETY * 5
    )
    if guarded:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "4"
    else:
        assert done.returncode != 0
        assert "ConfigError: worker process" in done.stderr
        assert 'if __name__ == "__main__":' in done.stderr.splitlines()[-1]


def test_a_killed_worker_is_replaced_and_its_trial_run_again(executor, tmp_path) -> None:
    """kill -9 one of two workers in the middle of an evaluation: the study gets a failed
    attempt, runs it again on the fresh worker, and ends with every trial once."""
    held = (3, 3, 3, 3, 3, 3)
    evaluator = FileToy(tmp_path, hold=(held,))
    strategy = Scripted([held, (1,) * 6, (2,) * 6])
    pool = executor(workers=2, threads=1)

    def kill_the_held_worker() -> None:
        _wait_for(lambda: any(tmp_path.glob("333333.*")))
        pid = int(next(tmp_path.glob("333333.*")).suffix[1:])
        os.kill(pid, signal.SIGKILL)
        (tmp_path / "go").write_text("")

    killer = threading.Thread(target=kill_the_held_worker)
    killer.start()
    with Storage(tmp_path / "runs.db") as storage:
        result = ParallelStudy(
            SPACE, evaluator, strategy, 100.0, executor=pool, storage=storage
        ).run()
        stored = storage.load("default")[1]
    killer.join()
    lost = [t for t in result.trials if t.state is TrialState.FAILED]
    assert len(lost) == 1 and lost[0].retried and "WorkerLost" in lost[0].info["error"]
    complete = sorted(t.arch for t in result.trials if t.state is TrialState.COMPLETE)
    assert complete == sorted([held, (1,) * 6, (2,) * 6])  # none lost, none twice
    assert [t.number for t in stored] == list(range(4))
    assert [t.arch for t in strategy.told] == [t.arch for t in result.trials if not t.retried]


def test_a_hung_worker_is_replaced_after_its_heartbeats_stop(executor, tmp_path) -> None:
    pool = executor(workers=1, beat=0.05, stale_after=0.5)
    pool.start(FileToy(tmp_path, hold=((4,) * 6,)))
    pool.submit(0, Job((4,) * 6, E4, None))
    _wait_for(lambda: any(tmp_path.glob("444444.*")))
    (pid,) = pool.pids().values()
    os.kill(pid, signal.SIGSTOP)  # alive, but silent
    ticket, result = pool.wait()
    assert ticket == 0 and "no heartbeat" in result.error
    (tmp_path / "go").write_text("")
    pool.submit(1, Job((4,) * 6, E4, None))  # the fresh worker takes the next job
    assert not pool.wait()[1].error


class Scripted(BaseStrategy):
    """Asks its architectures at epochs=4 once each, in order; records what it is told."""

    name = "scripted"

    def __init__(self, archs) -> None:
        super().__init__(SPACE)
        self.archs, self.told = list(archs), []

    def ask(self, context=SERIAL):
        return Request(self.archs.pop(0), E4) if self.archs else None

    def tell(self, trial) -> None:
        self.told.append(trial)

    def params(self) -> dict:
        return {}
