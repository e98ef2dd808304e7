"""The simulated workers and the asynchronous study loop (the contract suite runs every strategy
through it with one and with several workers)."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pmfnas.errors import ConfigError, StrategyError
from pmfnas.executors import Job, SimulatedExecutor
from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import create_space
from pmfnas.storage import Storage
from pmfnas.strategies.base import SERIAL, WAIT, AskContext, BaseStrategy
from pmfnas.types import Fidelity, Request, Result, TrialState

SPACE = create_space("nb201")
E12, E200 = Fidelity(epochs=12), Fidelity(epochs=200)


class Lookup:
    """A virtual-clock evaluator whose evaluations cost what the architecture's first op says."""

    budget_unit = "simulated"

    def evaluate(self, arch, fidelity, limit=None):
        return Result(metrics={"val_acc": 1.0}, cost=float(arch[0]))


def test_the_simulated_clock_returns_evaluations_in_the_order_they_finish() -> None:
    executor = SimulatedExecutor(workers=2)
    with pytest.raises(ConfigError, match="not started"):
        executor.submit(0, Job((5,) * 6, E12, None))
    executor.start(Lookup())
    executor.submit(0, Job((5,) * 6, E12, None))
    executor.submit(1, Job((2,) * 6, E12, None))
    assert executor.committed() == 7.0
    with pytest.raises(ConfigError, match="busy"):
        executor.submit(2, Job((1,) * 6, E12, None))
    assert executor.wait()[0] == 1 and executor.now() == 2.0
    executor.submit(2, Job((3,) * 6, E12, None))  # starts at 2, ends at 5: a tie with ticket 0
    assert [executor.wait()[0], executor.wait()[0]] == [0, 2] and executor.now() == 5.0
    executor.submit(3, Job((4,) * 6, E12, None, started=3.0))  # a resumed job keeps its start
    assert executor.wait() == (3, Result(metrics={"val_acc": 1.0}, cost=4.0))
    assert executor.now() == 7.0
    with pytest.raises(ConfigError, match="nothing is running"):
        executor.wait()


class Scripted(BaseStrategy):
    """Asks its script in order (WAIT where the script says so); records every context."""

    name = "scripted"

    def __init__(self, script):
        super().__init__(SPACE)
        self.script, self.contexts, self.told = list(script), [], []

    def ask(self, context: AskContext = SERIAL):
        self.contexts.append(context)
        return self.script.pop(0) if self.script else None

    def tell(self, trial):
        self.told.append(trial)

    def params(self):
        return {}


def test_a_repeat_of_a_request_in_flight_is_served_when_it_finishes(toy_evaluator) -> None:
    a, b = Request((3,) * 6, E12), Request((2,) * 6, E12)
    strategy = Scripted([a, a, b])
    result = ParallelStudy(SPACE, toy_evaluator(), strategy, 100.0, workers=2).run()
    states = [(t.arch, t.state, t.cost, t.clock) for t in result.trials]
    assert states == [
        (a.arch, TrialState.COMPLETE, 12.0, 12.0),
        (a.arch, TrialState.REUSED, 0.0, 12.0),
        (b.arch, TrialState.COMPLETE, 12.0, 12.0),
    ]
    assert strategy.contexts[1].in_flight == (a,) and strategy.contexts[2].in_flight == (a, a)
    assert [t.number for t in strategy.told] == [0, 1, 2]


def test_the_workers_budget_is_what_they_can_still_do(toy_evaluator) -> None:
    strategy = Scripted([Request((3,) * 6, E12), Request((2,) * 6, E12)])
    ParallelStudy(SPACE, toy_evaluator(), strategy, 100.0, workers=3).run()
    first, second, _ = strategy.contexts
    assert first.budget_left == 300.0 and second.budget_left == 300.0 - 12.0


def test_an_evaluation_that_would_end_after_the_budget_is_not_started(toy_evaluator) -> None:
    strategy = Scripted([Request((3,) * 6, E12), Request((2,) * 6, E200)])
    result = ParallelStudy(SPACE, toy_evaluator(), strategy, 100.0, workers=2).run()
    assert [t.fidelity for t in result.trials] == [E12]  # the one in flight still finishes
    assert "cannot pay for epochs=200" in result.stop_reason


def test_waiting_with_nothing_in_flight_breaks_the_contract(toy_evaluator) -> None:
    with pytest.raises(StrategyError, match="nothing is in flight"):
        ParallelStudy(SPACE, toy_evaluator(), Scripted([WAIT]), 100.0, workers=2).run()


def test_simulated_workers_need_a_virtual_clock(toy_evaluator) -> None:
    evaluator = toy_evaluator()
    evaluator.budget_unit = "wall"
    with pytest.raises(ConfigError, match="virtual clock"):
        ParallelStudy(SPACE, evaluator, Scripted([]), 100.0, workers=2)


KILLABLE_SEARCH = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from conftest import JournaledSimulation, ToyEvaluator
from pmfnas.parallel import ParallelStudy
from pmfnas.storage import Storage
from pmfnas.spaces import create_space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy

space, evaluator = create_space("nb201"), ToyEvaluator()
params = dict(regions=2, members=2, batch=4, min_high=2, patience=3, refine=0)
strategy = create_strategy("pmf", space, seed=3, ladder=evaluator.ladder, **params)
told = 0

def progress(spent, limit):
    global told
    told += 1
    if told == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no cleanup, no commit

with Storage({path!r}, batch_trials=7) as storage:
    study = ParallelStudy(space, evaluator, strategy, 400.0, executor=JournaledSimulation(2),
                          storage=storage, name="pmf")
    study.run(progress)
"""


def test_a_driver_killed_at_ten_moments_resumes_to_the_uninterrupted_trials(tmp_path) -> None:
    """kill -9 at 10 seeded moments of a 2-worker search whose steps are journaled; each rerun
    resumes from the journal, and the last ends with the trials of an uninterrupted run."""
    tests = str(Path(__file__).parent)

    def run(path: Path, kill_at: int) -> int:
        code = KILLABLE_SEARCH.format(tests=tests, kill_at=kill_at, path=str(path))
        return subprocess.run([sys.executable, "-c", code], check=False).returncode

    def stored(path: Path) -> list[tuple]:
        with Storage(path, read_only=True) as storage:
            _, trials = storage.load("pmf")
        return [(t.number, t.arch, t.fidelity, t.state, t.metrics, t.clock) for t in trials]

    assert run(tmp_path / "whole.db", kill_at=-1) == 0
    whole = stored(tmp_path / "whole.db")
    moments = sorted(np.random.default_rng(17).choice(len(whole), size=10, replace=False) + 1)
    for moment in moments:  # each run replays what is stored, then goes on until killed
        assert run(tmp_path / "killed.db", kill_at=int(moment)) == -signal.SIGKILL
    assert run(tmp_path / "killed.db", kill_at=-1) == 0
    assert stored(tmp_path / "killed.db") == whole
