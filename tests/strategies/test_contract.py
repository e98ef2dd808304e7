"""The contract every registered strategy keeps, checked on each one by its registered name: a
new strategy is held to it without writing a test (as Optuna's sampler tests do).

The searches are short ones on the toy evaluator, which answers every fidelity (proxies and
training schedules) without a data file and refuses to tell a test accuracy.
"""

import itertools
import json

import pytest

from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import create_space
from pmfnas.storage import Storage
from pmfnas.strategies import STRATEGIES
from pmfnas.study import (
    CLOCK_TOLERANCE,
    INTERRUPTED,
    MAX_FAILURES_IN_A_ROW,
    Study,
    StudyResult,
)
from pmfnas.types import Request, TrialState

SPACE = create_space("nb201")

BUDGET = 400.0
"""Toy seconds: some 30 trainings of 12 epochs, or PMF's three stages, in well under a second."""

FAST = {
    "mfnas": {"population": 10, "sample_size": 3, "steps": 5},
    "pmf": {"regions": 2, "members": 2, "batch": 4, "min_high": 2, "patience": 3, "refine": 0},
}
"""Smaller settings for the strategies whose defaults are sized for a whole benchmark; any other
strategy searches with its defaults."""

pytestmark = pytest.mark.parametrize("name", STRATEGIES.names())


def failing_toy(toy_evaluator, every: bool = False):
    """The toy evaluator, failing (as out of memory) on every cell whose first edge is skip
    (``every``: on every cell)."""

    class Failing(toy_evaluator):
        def evaluate(self, arch, fidelity, limit=None):
            if every or arch[0] == 1:
                raise RuntimeError("out of memory (simulated)")
            return super().evaluate(arch, fidelity, limit)

    return Failing


def _refuse_test_accuracy(arch):
    raise AssertionError("a search asked for a test accuracy")


@pytest.fixture
def search(make_strategy, toy_evaluator):
    """``search(name, seed=, budget=, storage=, progress=, test_seed=, params=, failing=)``: a
    study of the strategy on the toy evaluator whose private test accuracies come from
    ``test_seed``, with ``params`` (by default the strategy's ``FAST`` settings); ``failing``:
    every evaluation of a cell whose first edge is ``skip_connect`` fails; ``broken``: every
    evaluation fails."""

    def run(
        name,
        seed=0,
        budget=BUDGET,
        storage=None,
        progress=None,
        test_seed=0,
        params=None,
        failing=False,
        broken=False,
    ):
        toy = failing_toy(toy_evaluator, broken) if failing or broken else toy_evaluator
        evaluator = toy(test_seed)
        evaluator.test_accuracy = _refuse_test_accuracy  # a search never needs one
        params = FAST.get(name, {}) if params is None else params
        strategy = make_strategy(name, SPACE, evaluator, seed, **params)
        return Study(SPACE, evaluator, strategy, budget, storage=storage, name=name).run(progress)

    return run


def asked(result: StudyResult) -> list[tuple]:
    """What the strategy asked and was told, trial by trial (not when it ran, nor what the
    evaluator kept private)."""
    return [
        (t.number, t.arch, t.fidelity, t.state, t.metrics, t.cost, t.clock, t.reason)
        for t in result.trials
    ]


def interrupt_after(trials: int):
    """A progress callback that stops the study as Ctrl-C does, once ``trials`` trials are told."""
    told = itertools.count(1)

    def progress(spent: float, limit: float) -> None:
        if next(told) == trials:
            raise KeyboardInterrupt

    return progress


def test_the_seed_fixes_the_search(name, search):
    first = asked(search(name, seed=1))
    assert len(first) > 1
    assert asked(search(name, seed=1)) == first
    assert asked(search(name, seed=2)) != first


def test_a_search_resumed_after_an_interrupt_is_the_search_run_straight_through(
    name, search, tmp_path
):
    whole = search(name)
    stop = len(whole.trials) // 2
    with Storage(tmp_path / "runs.db") as storage:
        stopped = search(name, storage=storage, progress=interrupt_after(stop))
        resumed = search(name, storage=storage)
    assert stopped.stop_reason == INTERRUPTED and len(stopped.trials) == stop > 0
    assert asked(resumed) == asked(whole)
    assert resumed.best.number == whole.best.number


@pytest.mark.parametrize("budget", [50.0, BUDGET])
def test_the_budget_is_never_exceeded(name, search, budget):
    result = search(name, budget=budget)
    assert result.trials
    assert result.spent <= budget + CLOCK_TOLERANCE
    assert sum(t.cost for t in result.trials) <= budget + CLOCK_TOLERANCE


def test_params_round_trip_through_the_registry(name, search, make_strategy, toy_evaluator):
    params = make_strategy(name, SPACE, toy_evaluator(), 0, **FAST.get(name, {})).params()
    assert json.loads(json.dumps(params)) == params  # a study stores them as JSON
    assert make_strategy(name, SPACE, toy_evaluator(), 0, **params).params() == params
    assert asked(search(name, params=params)) == asked(search(name))


def test_the_search_never_sees_test_accuracies(name, search):
    one, other = search(name, test_seed=1), search(name, test_seed=2)
    hidden = [t.info.get("test_acc") for t in one.trials]
    assert hidden != [t.info.get("test_acc") for t in other.trials]  # the searches differ there
    assert asked(one) == asked(other)  # and only there
    told = [t.metrics for t in one.trials]
    assert not any("test" in key for metrics in told for key in metrics)
    assert not set(hidden) & {value for metrics in told for value in metrics.values()}


@pytest.fixture
def parallel(make_strategy, toy_evaluator, journaled_executor):
    """``parallel(name, workers, seed=, failing=, broken=, storage=, progress=, journaled=)``: the search
    of ``search`` with ``workers`` simulated workers (``journaled``: treated as real ones, resumed
    from the journal); each ask is checked against what the study says is in flight."""

    def run(
        name,
        workers,
        seed=0,
        failing=False,
        broken=False,
        storage=None,
        progress=None,
        journaled=False,
    ):
        toy = failing_toy(toy_evaluator, broken) if failing or broken else toy_evaluator
        evaluator = toy()
        evaluator.test_accuracy = _refuse_test_accuracy
        strategy = make_strategy(name, SPACE, evaluator, seed, **FAST.get(name, {}))
        ask = strategy.ask

        def checked_ask(context):
            request = ask(context)
            flying = {(r.arch, r.fidelity) for r in context.in_flight}
            assert (
                not isinstance(request, Request) or (request.arch, request.fidelity) not in flying
            )
            assert len(context.in_flight) < workers
            return request

        strategy.ask = checked_ask
        executor = journaled_executor(workers) if journaled else None
        study = ParallelStudy(
            SPACE,
            evaluator,
            strategy,
            BUDGET,
            workers=workers,
            executor=executor,
            storage=storage,
            name=name,
        )
        return study.run(progress)

    return run


def test_one_simulated_worker_searches_as_the_serial_study(name, search, parallel):
    serial, one = search(name), parallel(name, workers=1)
    assert asked(one) == asked(serial)
    assert (one.best.number, one.stop_reason) == (serial.best.number, serial.stop_reason)


def test_several_workers_overlap_their_work_within_the_budget(name, parallel):
    result = parallel(name, workers=4)
    assert asked(parallel(name, workers=4)) == asked(result)  # deterministic for a seed
    assert result.best is not None
    clocks = [t.clock for t in result.trials]
    assert clocks == sorted(clocks) and clocks[-1] <= BUDGET + CLOCK_TOLERANCE
    assert sum(t.cost for t in result.trials) > clocks[-1]  # more than one worker's work


def failures_are_kept_and_the_search_goes_on(result: StudyResult) -> None:
    failed = [t for t in result.trials if t.state is TrialState.FAILED]
    assert failed and all(t.arch[0] == 1 for t in failed)
    assert all(t.info["error"] == "RuntimeError: out of memory (simulated)" for t in failed)
    retried = [t for t in failed if t.retried]
    assert len(retried) == len(failed) - len(retried)  # each once retried, then told
    assert result.best is not None and result.best.measured and result.best.arch[0] != 1


def test_failed_evaluations_are_stored_retried_told_and_the_search_goes_on(name, search):
    failures_are_kept_and_the_search_goes_on(search(name, failing=True))


def test_failures_resume_exactly(name, search, tmp_path):
    whole = search(name, failing=True)
    stop = len(whole.trials) // 2
    with Storage(tmp_path / "runs.db") as storage:
        search(name, storage=storage, progress=interrupt_after(stop), failing=True)
        resumed = search(name, storage=storage, failing=True)
    assert asked(resumed) == asked(whole)


def test_several_workers_go_on_after_failures(name, parallel):
    failures_are_kept_and_the_search_goes_on(parallel(name, workers=4, failing=True))


def test_an_evaluator_that_always_fails_stops_the_search_naming_its_error(name, search, parallel):
    """Failed evaluations cost nothing here, so without the limit no budget would end this."""
    for workers, result in ((1, search(name, broken=True)), (3, parallel(name, 3, broken=True))):
        told = len([t for t in result.trials if not t.retried])  # the rest were in flight
        assert MAX_FAILURES_IN_A_ROW <= told < MAX_FAILURES_IN_A_ROW + workers
        assert all(t.state is TrialState.FAILED for t in result.trials)
        assert result.stop_reason == (
            f"{told} evaluations failed in a row (the last: RuntimeError: out of memory (simulated))"
        )
        assert result.best is None


def test_several_workers_resume_after_an_interrupt_as_run_straight_through(
    name, parallel, tmp_path
):
    whole = parallel(name, workers=4, failing=True)
    stop = len(whole.trials) // 2
    with Storage(tmp_path / "runs.db") as storage:
        stopped = parallel(name, 4, failing=True, storage=storage, progress=interrupt_after(stop))
        resumed = parallel(name, 4, failing=True, storage=storage)
    assert stopped.stop_reason == INTERRUPTED and len(stopped.trials) == stop
    assert asked(resumed) == asked(whole)


@pytest.mark.parametrize("moment", [0.25, 0.5, 0.9])
def test_several_workers_resume_from_the_journal_as_run_straight_through(
    name, parallel, tmp_path, moment
):
    whole = parallel(name, 3, failing=True, journaled=True)
    assert asked(parallel(name, 3, failing=True, journaled=True)) == asked(whole)
    stop = max(1, int(len(whole.trials) * moment))
    with Storage(tmp_path / "runs.db") as storage:
        stopped = parallel(
            name, 3, failing=True, storage=storage, progress=interrupt_after(stop), journaled=True
        )
        resumed = parallel(name, 3, failing=True, storage=storage, journaled=True)
    assert stopped.stop_reason == INTERRUPTED
    assert asked(resumed) == asked(whole)
