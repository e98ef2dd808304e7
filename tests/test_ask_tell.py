"""Ask and tell: a user's own training loop driving a strategy, with failures, resume from the
journal and the trial's network builder."""

import pytest
import torch

from pmfnas.ask_tell import AskTellStudy
from pmfnas.errors import ConfigError
from pmfnas.strategies.base import WAIT
from pmfnas.types import TrialState

REA = {"population": 6, "sample_size": 3}


def accuracy(trial) -> float:
    """A made-up training: 3x3 convolutions help, longer training adds 5 points."""
    return (
        50.0
        + 5.0 * sum(op == 3 for op in trial.arch)
        + (5.0 if trial.fidelity.epochs > 12 else 0.0)
    )


def drive(study, stop_after=None, fail=lambda trial: False) -> list[tuple]:
    """The user's loop: train what is asked, tell it; returns the told (cell, fidelity, state)."""
    told = 0
    while (trial := study.ask()) is not None:
        assert trial is not WAIT
        if stop_after is not None and told == stop_after:
            return []  # walk away with this trial asked and never told
        if fail(trial):
            study.tell(trial, error="RuntimeError: CUDA out of memory")
        else:
            study.tell(trial, {"val_acc": accuracy(trial)}, cost=float(trial.fidelity.epochs))
        told += 1
    return [(t.arch, t.fidelity, t.state) for t in study.trials]


def test_a_user_loop_searches_within_the_budget_of_the_costs_told() -> None:
    with AskTellStudy("rea", budget=240.0, params=REA, seed=1) as study:
        trials = drive(study)
        assert "budget" in study.stop_reason
        assert sum(t.cost for t in study.trials) <= 240.0
        assert study.best is not None and study.best.metrics["val_acc"] == max(
            t.metrics["val_acc"] for t in study.trials
        )
    with AskTellStudy("rea", budget=240.0, params=REA, seed=1) as again:
        assert drive(again) == trials  # same seed, same search
    assert sum(state is TrialState.COMPLETE for *_, state in trials) == 240 // 12


def test_a_failure_told_is_stored_asked_again_and_then_told_to_the_strategy() -> None:
    failing = {(3,) * 6}
    with AskTellStudy("random", budget=120.0, seed=0, params={}) as study:
        first = study.ask()
        failing = {first.arch}
        study.tell(first, error="RuntimeError: CUDA out of memory")
        again = study.ask()
        assert (again.arch, again.fidelity) == (first.arch, first.fidelity)  # the retry
        study.tell(again, {"val_acc": float("nan")})  # a non-finite accuracy is a failure too
        drive(study, fail=lambda trial: trial.arch in failing)
        failed = [t for t in study.trials if t.state is TrialState.FAILED]
        assert [t.retried for t in failed[:2]] == [True, False]
        assert "no finite val_acc" in failed[1].info["error"]


def test_a_study_left_with_a_trial_out_resumes_from_its_journal(tmp_path) -> None:
    db = tmp_path / "runs.db"
    with AskTellStudy("pmf", budget=600.0, seed=2, storage=db, name="mine") as whole_run:
        whole = drive(whole_run)
    with AskTellStudy("pmf", budget=600.0, seed=2, storage=tmp_path / "cut.db") as first:
        drive(first, stop_after=17)
        out = next(iter(first._out.values()))
    with AskTellStudy("pmf", budget=600.0, seed=2, storage=tmp_path / "cut.db") as resumed:
        handed = resumed.ask()
        assert (handed.arch, handed.fidelity) == (out.arch, out.fidelity)  # given out again
        resumed.tell(handed, {"val_acc": accuracy(handed)}, cost=float(handed.fidelity.epochs))
        assert drive(resumed) == whole


def test_pending_trials_are_asked_before_any_is_told_and_a_stranger_is_refused() -> None:
    with AskTellStudy("random", budget=120.0, pending=2) as study:
        a, b = study.ask(), study.ask()
        assert a.ticket != b.ticket and study.ask() is WAIT
        study.tell(b, {"val_acc": 60.0}, cost=12.0)
        with pytest.raises(ConfigError, match="told already"):
            study.tell(b, {"val_acc": 60.0}, cost=12.0)


def test_the_trial_builds_its_network() -> None:
    with AskTellStudy("random", budget=120.0) as study:
        network = study.ask().build(num_classes=10, channels=8, cells=1)
        logits = network(torch.zeros(2, 3, 32, 32))
        assert (logits[1] if isinstance(logits, tuple) else logits).shape == (2, 10)
