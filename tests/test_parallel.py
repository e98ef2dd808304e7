"""The simulated workers and the asynchronous study loop (the contract suite runs every strategy
through it with one and with several workers)."""

import pytest

from pmfnas.errors import ConfigError, StrategyError
from pmfnas.execution import SimulatedExecutor
from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import create_space
from pmfnas.strategies.base import SERIAL, WAIT, AskContext, BaseStrategy
from pmfnas.types import Fidelity, Request, Result, TrialState

SPACE = create_space("nb201")
E12, E200 = Fidelity(epochs=12), Fidelity(epochs=200)


def lookup(cost: float):
    return lambda arch, fidelity, limit: Result(metrics={"val_acc": 1.0}, cost=cost)


def test_the_simulated_clock_returns_evaluations_in_the_order_they_finish() -> None:
    executor = SimulatedExecutor(workers=2)
    executor.submit(0, lookup(5.0), (0,) * 6, E12)
    executor.submit(1, lookup(2.0), (1,) * 6, E12)
    assert executor.committed() == 7.0
    with pytest.raises(ConfigError, match="busy"):
        executor.submit(2, lookup(1.0), (2,) * 6, E12)
    assert executor.wait()[0] == 1 and executor.clock == 2.0
    executor.submit(2, lookup(3.0), (2,) * 6, E12)  # starts at 2, ends at 5: a tie with ticket 0
    assert [executor.wait()[0], executor.wait()[0]] == [0, 2] and executor.clock == 5.0
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
