from types import SimpleNamespace

import pytest

from pmfnas.errors import ConfigError, DataError, StorageError
from pmfnas.executors import Guarded
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import SERIAL, BaseStrategy, Unaffordable
from pmfnas.study import INTERRUPTED, Study, StudyWatcher, trials_per_fidelity
from pmfnas.types import Fidelity, Request, Result, TrialState


@pytest.fixture
def rea_study(toy_evaluator):
    """``rea_study(budget, seed, storage, name, evaluator, **params)``: a small REA study, on a
    fresh toy evaluator unless given another."""

    def build(budget=300.0, seed=0, storage=None, name="s", evaluator=None, **kw):
        space = NB201Space()
        evaluator = evaluator or toy_evaluator()
        strategy = create_strategy(
            "rea", space, seed=seed, population=5, sample_size=3, ladder=evaluator.ladder, **kw
        )
        return Study(space, evaluator, strategy, budget, storage=storage, name=name)

    return build


def test_budget_is_never_exceeded(rea_study):
    result = rea_study(budget=100.0).run()
    assert result.spent <= 100.0
    assert result.spent == pytest.approx(sum(t.cost for t in result.trials))
    assert len([t for t in result.trials if t.state is TrialState.COMPLETE]) == 8  # 8 × 12 s


def test_same_seed_same_trials_other_seed_other_trials(rea_study):
    def archs(seed):
        return [(t.arch, t.fidelity, t.cost) for t in rea_study(seed=seed).run().trials]

    assert archs(0) == archs(0)
    assert archs(0) != archs(1)


def test_repeats_are_served_free_and_marked(toy_evaluator):
    space = NB201Space()

    class Repeat(BaseStrategy):
        name = "repeat"

        def ask(self, context=SERIAL):
            return Request((3,) * 6, Fidelity(epochs=12))

        def tell(self, trial):
            pass

        def params(self):
            return {}

    evaluator = toy_evaluator()
    result = Study(space, evaluator, Repeat(space), 100.0).run()
    assert evaluator.calls == 1
    assert result.trials[1].state is TrialState.REUSED and result.trials[1].cost == 0
    assert result.stop_reason.startswith("strategy repeated")
    paid = Study(space, toy_evaluator(), Repeat(space), 100.0, reuse=False).run()
    assert len(paid.trials) == 8 and paid.spent == 96.0


def test_resume_replays_without_evaluating(tmp_path, rea_study, toy_evaluator):
    path = tmp_path / "runs.db"
    first = rea_study(budget=150.0, storage=Storage(path)).run()
    evaluator = toy_evaluator()
    resumed = rea_study(budget=300.0, storage=Storage(path), evaluator=evaluator).run()
    fresh = rea_study(budget=300.0).run()
    assert [t.arch for t in resumed.trials] == [t.arch for t in fresh.trials]
    assert resumed.spent == fresh.spent
    live = [t for t in resumed.trials if t.state is TrialState.COMPLETE][len(first.trials) :]
    assert evaluator.calls == len(live)  # only the new part was evaluated
    assert len(Storage(path).trials(1, NB201Space())) == len(fresh.trials)


def test_what_the_strategy_says_of_a_request_is_kept_in_the_trials_info(tmp_path, rea_study):
    """``Request.info`` joins what the evaluator measured out of the strategy's sight; both are
    stored, and a resumed study replays them as they were."""

    path = tmp_path / "runs.db"
    first = rea_study(budget=150.0, storage=Storage(path)).run()
    assert [t.info["origin"] for t in first.trials] == ["sampled"] * 5 + ["mutation"] * 7
    assert all("test_acc" in t.info for t in first.trials)
    assert all(t.info["parents"] == [int(t.reason.split()[-1])] for t in first.trials[5:])
    resumed = rea_study(budget=300.0, storage=Storage(path)).run()
    assert [t.info for t in resumed.trials[: len(first.trials)]] == [t.info for t in first.trials]
    assert [t.info for t in Storage(path).trials(1, NB201Space())] == [
        t.info for t in resumed.trials
    ]


def test_interrupted_study_resumes_to_the_same_result(tmp_path, rea_study, toy_evaluator):
    path = tmp_path / "runs.db"

    class Crash(toy_evaluator):
        def evaluate(self, arch, fidelity, limit=None):
            if self.calls == 7:
                raise KeyboardInterrupt
            return super().evaluate(arch, fidelity, limit)

    stopped = rea_study(storage=Storage(path), evaluator=Crash()).run()
    assert stopped.stop_reason == INTERRUPTED
    assert len(stopped.trials) == len(Storage(path).trials(1, NB201Space())) == 7
    assert stopped.best == max(stopped.trials, key=lambda t: t.val_acc)  # the best so far
    resumed = rea_study(storage=Storage(path)).run()
    fresh = rea_study().run()
    assert [t.arch for t in resumed.trials] == [t.arch for t in fresh.trials]
    assert resumed.best.arch == fresh.best.arch


def test_interrupt_before_any_result_returns_no_best(rea_study, toy_evaluator):
    class Stop(toy_evaluator):
        def evaluate(self, arch, fidelity, limit=None):
            raise KeyboardInterrupt

    stopped = rea_study(evaluator=Stop()).run()
    assert (stopped.trials, stopped.best, stopped.stop_reason) == ([], None, INTERRUPTED)


def test_resume_with_another_config_is_refused(tmp_path, rea_study):
    path = tmp_path / "runs.db"
    rea_study(storage=Storage(path)).run()
    with pytest.raises(StorageError):
        rea_study(storage=Storage(path), seed=1).run()


def test_a_study_run_by_another_process_is_refused_and_nothing_is_evaluated(
    tmp_path, rea_study, toy_evaluator
):
    path = tmp_path / "runs.db"
    evaluator = toy_evaluator()
    study = rea_study(storage=Storage(path), evaluator=evaluator)
    holder = Storage(path)  # the process already running it
    held = holder.lease(holder.study("s", study.config()), "s")
    with held, pytest.raises(StorageError, match=r"study 's' in .* is being run by pid"):
        study.run()
    assert evaluator.calls == 0
    assert study.run().trials  # once it is released, the study runs


def test_best_uses_highest_fidelity_evidence(toy_evaluator):
    space = NB201Space()

    class TwoLevels(BaseStrategy):
        name = "two"

        def __init__(self, space):
            super().__init__(space)
            self.queue = [
                Request((3,) * 6, Fidelity(epochs=12)),  # best 12-epoch signal
                Request((2,) * 6, Fidelity(epochs=200)),  # only 200-epoch evidence
            ]

        def ask(self, context=SERIAL):
            return self.queue.pop(0) if self.queue else None

        def tell(self, trial):
            pass

        def params(self):
            return {}

    result = Study(space, toy_evaluator(), TwoLevels(space), 1000.0).run()
    assert result.stop_reason == "strategy finished"
    assert result.best.arch == (2,) * 6
    assert trials_per_fidelity(result.trials) == {"epochs=12": 1, "epochs=200": 1}


class FakeClock:
    """A clock that moves only when told: timings that do not depend on the machine."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_strategy_time_is_measured_apart_from_evaluations(toy_evaluator):
    space = NB201Space()
    clock = FakeClock()

    class SlowEvaluator(toy_evaluator):
        def evaluate(self, arch, fidelity, limit=None):
            clock.now += 0.2
            return super().evaluate(arch, fidelity, limit)

    class SlowStrategy(BaseStrategy):
        name = "slow"

        def __init__(self, space):
            super().__init__(space)
            self.left = 2

        def ask(self, context=SERIAL):
            clock.now += 0.03
            self.left -= 1
            return Request((self.left,) * 6, Fidelity(epochs=12)) if self.left >= 0 else None

        def tell(self, trial):
            clock.now += 0.03

        def params(self):
            return {}

    result = Study(space, SlowEvaluator(), SlowStrategy(space), 1000.0, clock=clock).run()
    assert len(result.trials) == 2
    # 3 asks and 2 tells take 0.15 s; the 2 evaluations' 0.4 s are not the strategy's
    assert result.strategy_seconds == pytest.approx(0.15)
    assert result.wall_seconds == pytest.approx(0.55)


class WallToy:
    """A toy evaluator on a wall clock: an evaluation takes its cost in (fake) seconds, and one
    that would outlast its limit stops there, as a real training does."""

    budget_unit = "wall"

    def __init__(self, toy, clock):
        self.toy, self.clock = toy, clock
        self.observed = []

    def describe(self):
        return self.toy.describe()

    def evaluate(self, arch, fidelity, limit=None):
        result = self.toy.evaluate(arch, fidelity)
        if limit is not None and result.cost > limit:
            self.clock.now += limit
            return Result({}, limit, private={"epochs_done": limit}, stopped=True)
        self.clock.now += result.cost
        return result

    def expected_cost(self, arch, fidelity):
        return None  # known only afterwards, as for a first training

    def observe(self, trial):
        self.observed.append(trial.number)

    def test_accuracy(self, arch):
        return self.toy.test_accuracy(arch)


class Overhead(BaseStrategy):
    """Asks a fixed list of 12-epoch requests, each ask taking 1 s of the clock."""

    name = "overhead"

    def __init__(self, space, clock):
        super().__init__(space)
        self.clock, self.queue = clock, [(op,) * 6 for op in range(5)] + [(1, 2, 3, 4, 0, 1)]

    def ask(self, context=SERIAL):
        self.clock.now += 1.0
        return Request(self.queue.pop(0), Fidelity(epochs=12)) if self.queue else None

    def tell(self, trial):
        pass

    def params(self):
        return {}


def test_a_wall_budget_is_spent_by_the_time_the_search_runs_overheads_included(toy_evaluator):
    space, clock = NB201Space(), FakeClock()
    result = Study(
        space, WallToy(toy_evaluator(), clock), Overhead(space, clock), 100.0, clock=clock
    ).run()
    assert [t.clock for t in result.trials] == [13.0, 26.0, 39.0, 52.0, 65.0, 78.0]
    assert result.spent == 78.0 and result.stop_reason == "strategy finished"


def test_an_evaluation_cut_at_the_budget_is_stored_stopped_and_rerun_on_resume(
    tmp_path, toy_evaluator
):
    space, clock = NB201Space(), FakeClock()
    path = tmp_path / "runs.db"

    def study(budget):
        strategy = Overhead(space, clock)
        evaluator = WallToy(toy_evaluator(), clock)
        return Study(space, evaluator, strategy, budget, storage=Storage(path), clock=clock)

    cut = study(30.0).run()  # 13 s a trial: the third is stopped after 3 s
    assert [t.state for t in cut.trials] == [TrialState.COMPLETE] * 2 + [TrialState.STOPPED]
    assert cut.spent == 30.0 and cut.best.number == 1  # the stopped one is no evidence
    assert "stopped after 3.00 epochs" in cut.stop_reason
    evaluator = WallToy(toy_evaluator(), clock)
    resumed = Study(
        space, evaluator, Overhead(space, clock), 100.0, storage=Storage(path), clock=clock
    )
    result = resumed.run()
    assert evaluator.observed == [0, 1]  # replayed trials teach the evaluator their costs
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 6
    stored = Storage(path).trials(1, space)
    assert [t.state for t in stored] == [TrialState.COMPLETE] * 6  # the stopped row replaced


def test_a_request_the_budget_cannot_pay_for_says_so(toy_evaluator):
    space = NB201Space()
    toy = toy_evaluator()
    result = Study(space, toy, create_strategy("random", space, ladder=toy.ladder), 30.0).run()
    assert len(result.trials) == 2  # 12 s each
    assert result.stop_reason.startswith("the remaining 6.0 s cannot pay for epochs=12 of |")


def test_a_smaller_budget_returns_the_stored_study_as_it_stood_there(tmp_path, rea_study):
    path = tmp_path / "runs.db"
    whole = rea_study(budget=300.0, storage=Storage(path)).run()
    cut = rea_study(budget=100.0, storage=Storage(path)).run()
    assert cut.spent <= 100.0 and "not used" in cut.stop_reason
    assert cut.trials == [t for t in whole.trials if t.clock <= 100.0]
    assert cut.best.number == rea_study(budget=100.0).run().best.number
    again = rea_study(budget=300.0, storage=Storage(path)).run()  # the whole study is still there
    assert again.trials == whole.trials


def test_a_budget_planning_strategy_replays_a_smaller_budget_as_it_ran(tmp_path, toy_evaluator):
    """PMF plans by the budget it sees: a cut replays it under the stored study's budget."""
    space, path = NB201Space(), tmp_path / "runs.db"

    def pmf(budget):
        toy = toy_evaluator()
        strategy = create_strategy("pmf", space, seed=0, low="none", ladder=toy.ladder)
        return Study(space, toy, strategy, budget, storage=Storage(path)).run()

    whole = pmf(800.0)
    cut = pmf(400.0)
    assert cut.trials == [t for t in whole.trials if t.clock <= 400.0]


def test_a_strategy_the_budget_stops_says_so_rather_than_finished(toy_evaluator):
    """PMF stops asking when its next medium training (12 s on the toy) costs more than is
    left: the stop reason names the budget, not the strategy."""
    space, toy = NB201Space(), toy_evaluator()
    strategy = create_strategy("pmf", space, ladder=toy.ladder, low_sample=40)
    result = Study(space, toy, strategy, 300.0).run()
    left = 300.0 - result.spent
    assert 0 < left < 12.0
    assert result.stop_reason.startswith(
        f"the remaining {left:.1f} s cannot pay for another epochs=12 evaluation (≈ "
    )
    assert result.stop_reason.endswith(" s, pmf's estimate)")


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        (50.0, "the remaining 38.0 s cannot pay for another epochs=200 evaluation (≈ 200 s, "
               "wants's estimate)"),
        (12.0, "budget spent"),  # nothing was left at all
    ],
)  # fmt: skip
def test_the_step_a_strategy_cannot_afford_is_the_stop_reason(toy_evaluator, budget, reason):
    space = NB201Space()

    class Wants(BaseStrategy):
        """One 12-epoch training (12 s on the toy), then a 200-epoch one it cannot afford."""

        name = "wants"

        def ask(self, context=SERIAL):
            if context.budget_left == budget:
                return Request((3,) * 6, Fidelity(epochs=12))
            self.unaffordable = Unaffordable(Fidelity(epochs=200), 200.0, context.budget_left)
            return None

        def tell(self, trial):
            pass

        def params(self):
            return {}

    assert Study(space, toy_evaluator(), Wants(space), budget).run().stop_reason == reason


def test_a_watcher_hears_the_live_trials_and_how_many_were_replayed(tmp_path, rea_study):
    class Heard(StudyWatcher):
        def __init__(self):
            self.events = []

        def replayed(self, study, trials):
            self.events.append(("replayed", study, trials))

        def started(self, number, request, spent, budget):
            self.events.append(("started", number))

        def finished(self, trial, spent, budget):
            self.events.append(("finished", trial.number, spent == trial.clock, budget))

    path = tmp_path / "runs.db"
    first, heard = Heard(), Heard()
    done = rea_study(budget=100.0, storage=Storage(path)).run(watcher=first)
    more = rea_study(budget=200.0, storage=Storage(path)).run(watcher=heard)
    assert ("replayed", "s", len(done.trials)) not in first.events
    assert heard.events[0] == ("replayed", "s", len(done.trials))
    live = [t for t in more.trials[len(done.trials) :]]
    finished = [e for e in heard.events if e[0] == "finished"]
    assert finished == [("finished", t.number, True, 200.0) for t in live]
    started = [e[1] for e in heard.events if e[0] == "started"]
    assert started == [t.number for t in live if t.state is not TrialState.REUSED]


def test_a_failing_evaluation_becomes_a_result_with_its_error_unless_the_input_is_bad():
    def nan_loss(arch, fidelity, limit):
        return Result(metrics={"val_acc": 10.0, "val_loss": float("nan")}, cost=3.0)

    def crash(arch, fidelity, limit):
        raise RuntimeError("CUDA out of memory")

    def no_table(arch, fidelity, limit):
        raise DataError("no NB201 table in the data folder")

    broken = Guarded(SimpleNamespace(evaluate=nan_loss))((3,) * 6, Fidelity(epochs=12), None)
    assert broken.error == "non-finite val_loss" and broken.cost == 3.0  # the work was paid for
    assert Guarded(SimpleNamespace(evaluate=crash))((3,) * 6, Fidelity(epochs=12), None).error == (
        "RuntimeError: CUDA out of memory"
    )
    with pytest.raises(DataError):
        Guarded(SimpleNamespace(evaluate=no_table))((3,) * 6, Fidelity(epochs=12), None)


def test_a_resumed_study_stops_at_the_same_failures_in_a_row_and_a_bad_limit_is_refused(
    tmp_path, toy_evaluator
):
    """The replayed failures count as the live ones did: a rerun stops where the run stopped."""

    class Broken(toy_evaluator):
        def evaluate(self, arch, fidelity, limit=None):
            raise RuntimeError("out of memory (simulated)")

    space = NB201Space()

    def study(storage, max_failures=3):
        strategy = create_strategy("random", space, seed=0, ladder=Broken.ladder)
        return Study(space, Broken(), strategy, 300.0, storage=storage, max_failures=max_failures)

    with Storage(tmp_path / "runs.db") as storage:
        first, again = study(storage).run(), study(storage).run()
    assert len(first.trials) == len(again.trials) == 6  # each told failure once retried
    assert [t.arch for t in again.trials] == [t.arch for t in first.trials]
    reason = "3 evaluations failed in a row (the last: RuntimeError: out of memory (simulated))"
    assert first.stop_reason == again.stop_reason == reason
    with pytest.raises(ConfigError, match="at least 1, got 0"):
        study(None, max_failures=0)
