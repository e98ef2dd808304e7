import time

import pytest
from toy import ToyEvaluator

from pmfnas.errors import StorageError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import BaseStrategy
from pmfnas.study import Study, trials_per_fidelity
from pmfnas.types import Fidelity, Request, TrialState


def _study(budget=300.0, seed=0, storage=None, name="s", evaluator=None, **kw):
    space = NB201Space()
    strategy = create_strategy("rea", space, seed=seed, population=5, sample_size=3, **kw)
    return Study(space, evaluator or ToyEvaluator(), strategy, budget, storage=storage, name=name)


def test_budget_is_never_exceeded():
    result = _study(budget=100.0).run()
    assert result.spent <= 100.0
    assert result.spent == pytest.approx(sum(t.cost for t in result.trials))
    assert len([t for t in result.trials if t.state is TrialState.COMPLETE]) == 8  # 8 × 12 s


def test_same_seed_same_trials_other_seed_other_trials():
    def archs(seed):
        return [(t.arch, t.fidelity, t.cost) for t in _study(seed=seed).run().trials]

    assert archs(0) == archs(0)
    assert archs(0) != archs(1)


def test_repeats_are_served_free_and_marked():
    space = NB201Space()

    class Repeat(BaseStrategy):
        name = "repeat"

        def ask(self):
            return Request((3,) * 6, Fidelity(epochs=12))

        def tell(self, trial):
            pass

        def params(self):
            return {}

    evaluator = ToyEvaluator()
    result = Study(space, evaluator, Repeat(space), 100.0).run()
    assert evaluator.calls == 1
    assert result.trials[1].state is TrialState.REUSED and result.trials[1].cost == 0
    assert result.stop_reason.startswith("strategy repeated")
    paid = Study(space, ToyEvaluator(), Repeat(space), 100.0, reuse=False).run()
    assert len(paid.trials) == 8 and paid.spent == 96.0


def test_resume_replays_without_evaluating(tmp_path):
    path = tmp_path / "runs.db"
    first = _study(budget=150.0, storage=Storage(path)).run()
    evaluator = ToyEvaluator()
    resumed = _study(budget=300.0, storage=Storage(path), evaluator=evaluator).run()
    fresh = _study(budget=300.0).run()
    assert [t.arch for t in resumed.trials] == [t.arch for t in fresh.trials]
    assert resumed.spent == fresh.spent
    live = [t for t in resumed.trials if t.state is TrialState.COMPLETE][len(first.trials) :]
    assert evaluator.calls == len(live)  # only the new part was evaluated
    assert len(Storage(path).trials(1, NB201Space())) == len(fresh.trials)


def test_interrupted_study_resumes_to_the_same_result(tmp_path):
    path = tmp_path / "runs.db"

    class Crash(ToyEvaluator):
        def evaluate(self, arch, fidelity):
            if self.calls == 7:
                raise KeyboardInterrupt
            return super().evaluate(arch, fidelity)

    with pytest.raises(KeyboardInterrupt):
        _study(storage=Storage(path), evaluator=Crash()).run()
    assert len(Storage(path).trials(1, NB201Space())) == 7
    resumed = _study(storage=Storage(path)).run()
    fresh = _study().run()
    assert [t.arch for t in resumed.trials] == [t.arch for t in fresh.trials]
    assert resumed.best.arch == fresh.best.arch


def test_resume_with_another_config_is_refused(tmp_path):
    path = tmp_path / "runs.db"
    _study(storage=Storage(path)).run()
    with pytest.raises(StorageError):
        _study(storage=Storage(path), seed=1).run()


def test_a_study_run_by_another_process_is_refused_and_nothing_is_evaluated(tmp_path):
    path = tmp_path / "runs.db"
    evaluator = ToyEvaluator()
    study = _study(storage=Storage(path), evaluator=evaluator)
    holder = Storage(path)  # the process already running it
    held = holder.lease(holder.study("s", study.config()), "s")
    with held, pytest.raises(StorageError, match=r"study 's' in .* is being run by pid"):
        study.run()
    assert evaluator.calls == 0
    assert study.run().trials  # once it is released, the study runs


def test_best_uses_highest_fidelity_evidence():
    space = NB201Space()

    class TwoLevels(BaseStrategy):
        name = "two"

        def __init__(self, space):
            super().__init__(space)
            self.queue = [
                Request((3,) * 6, Fidelity(epochs=12)),  # best 12-epoch signal
                Request((2,) * 6, Fidelity(epochs=200)),  # only 200-epoch evidence
            ]

        def ask(self):
            return self.queue.pop(0) if self.queue else None

        def tell(self, trial):
            pass

        def params(self):
            return {}

    result = Study(space, ToyEvaluator(), TwoLevels(space), 1000.0).run()
    assert result.stop_reason == "strategy finished"
    assert result.best.arch == (2,) * 6
    assert trials_per_fidelity(result.trials) == {"epochs=12": 1, "epochs=200": 1}


def test_strategy_time_is_measured_apart_from_evaluations():
    space = NB201Space()

    class SlowEvaluator(ToyEvaluator):
        def evaluate(self, arch, fidelity):
            time.sleep(0.2)
            return super().evaluate(arch, fidelity)

    class SlowStrategy(BaseStrategy):
        name = "slow"

        def __init__(self, space):
            super().__init__(space)
            self.left = 2

        def ask(self):
            time.sleep(0.03)
            self.left -= 1
            return Request((self.left,) * 6, Fidelity(epochs=12)) if self.left >= 0 else None

        def tell(self, trial):
            time.sleep(0.03)

        def params(self):
            return {}

    result = Study(space, SlowEvaluator(), SlowStrategy(space), 1000.0).run()
    assert len(result.trials) == 2
    # 3 asks and 2 tells sleep 0.15 s; the 2 evaluations' 0.4 s are not the strategy's
    assert 0.15 <= result.strategy_seconds < 0.15 + 0.3
    assert result.wall_seconds >= result.strategy_seconds + 0.4
