"""The lines a search and a training print while they run, on the toy evaluator (no data)."""

from pathlib import Path

import pytest

from pmfnas.cli.common import LazyBar
from pmfnas.cli.trial_log import SearchLog, TrainLog, Verbosity, verbosity
from pmfnas.errors import ConfigError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import best_evidence
from pmfnas.study import Study
from pmfnas.training.loop import EpochProgress
from pmfnas.types import Fidelity, Request, TrialState

SPACE = NB201Space()


def search(toy_evaluator, level, storage=None, budget=400.0, plan=500.0):
    """A PMF study on the toy evaluator (proxies → 12 → 200 epochs) with its log, planned for
    ``plan`` seconds whatever its budget (so that a larger budget extends it); the result."""
    toy = toy_evaluator()
    strategy = create_strategy("pmf", SPACE, ladder=toy.ladder, low_sample=40, budget=plan)
    log = SearchLog(LazyBar("search"), SPACE, "simulated", level)
    log.planned([str(f) for f in toy.ladder.rungs()])
    study = Study(SPACE, toy, strategy, budget, storage=storage, name="toy")
    return study.run(watcher=log)


def trial_lines(text):
    return [line for line in text.splitlines() if line.startswith("trial ")]


def test_every_trial_is_a_line_on_stderr_with_verbose(toy_evaluator, capsys):
    result = search(toy_evaluator, Verbosity.VERBOSE)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout keeps the summary
    lines = trial_lines(captured.err)
    assert len(lines) == len(result.trials)
    for line, trial in zip(lines, result.trials, strict=True):
        assert line.startswith(f"trial {trial.number}  {trial.fidelity}  ")
        assert line.endswith(SPACE.format(trial.arch))  # the whole architecture, never cut


def test_by_default_the_cheapest_rung_shows_only_new_bests(toy_evaluator, capsys):
    result = search(toy_evaluator, Verbosity.NORMAL)
    lines = trial_lines(capsys.readouterr().err)
    trained = [t for t in result.trials if not t.fidelity.is_proxy]
    # proxy scorings carry no validation accuracy, so none is ever a new best
    assert [int(line.split()[1]) for line in lines] == [t.number for t in trained]
    assert "new best" in lines[0]  # the first trained is the best so far


def test_a_failed_trial_is_shown_with_its_error(toy_evaluator, capsys):
    class Failing(toy_evaluator):
        def evaluate(self, arch, fidelity, limit=None):
            if arch[0] == 1:
                raise RuntimeError("out of memory")
            return super().evaluate(arch, fidelity, limit)

    result = search(lambda: Failing(), Verbosity.NORMAL)
    lines = {int(line.split()[1]): line for line in trial_lines(capsys.readouterr().err)}
    failed = [t for t in result.trials if t.state is TrialState.FAILED]
    assert failed  # proxies included: a failure is shown at every rung
    for t in failed:
        again = ", run again" if t.retried else ""
        assert f"failed: RuntimeError: out of memory{again}" in lines[t.number]


def test_quiet_shows_no_line(toy_evaluator, capsys):
    search(toy_evaluator, Verbosity.QUIET)
    assert capsys.readouterr().err == ""


def test_the_running_best_is_the_strategys_evidence_rule(toy_evaluator, capsys):
    """The best a line names is what ``best_evidence`` would return at that point: the highest
    fidelity first, so a 12-epoch result never displaces a 200-epoch one."""
    result = search(toy_evaluator, Verbosity.NORMAL, budget=2000.0, plan=2000.0)
    lines = trial_lines(capsys.readouterr().err)
    trials = {t.number: t for t in result.trials}
    for line in lines:
        number = int(line.split()[1])
        best = best_evidence([t for t in result.trials if t.number <= number])
        if "new best" in line:
            assert best.number == number
        else:
            assert f"(trial {best.number}, {best.fidelity})" in line
    assert any(trials[int(line.split()[1])].fidelity.epochs == 200 for line in lines)


def test_a_resumed_study_says_how_many_trials_it_replayed(toy_evaluator, tmp_path, capsys):
    first = search(toy_evaluator, Verbosity.NORMAL, Storage(tmp_path / "runs.db"), budget=300.0)
    capsys.readouterr()
    again = search(toy_evaluator, Verbosity.NORMAL, Storage(tmp_path / "runs.db"), budget=500.0)
    err = capsys.readouterr().err
    assert (
        err.splitlines()[0] == f"resuming study toy: {len(first.trials):,} stored trials replayed"
    )
    shown = [int(line.split()[1]) for line in trial_lines(err)]
    assert shown and min(shown) >= len(first.trials)  # the replayed trials are not shown again
    assert len(again.trials) > len(first.trials)


def test_a_training_resumed_from_its_checkpoint_in_a_search_says_so(capsys):
    log = SearchLog(LazyBar("search"), SPACE, "wall")
    log.started(7, Request(SPACE.arch(6111), Fidelity(epochs=12)), 30.0, 180.0)
    log.resumed(5, Path("ck/abc.pt"), own=True)
    log.resumed(4, Path("scratch/def.pt"), own=False)  # a shorter training it extends: normal
    log.batch(EpochProgress(6, 12, 3, 17))
    err = capsys.readouterr().err
    assert err == (
        f"trial 7: epochs=12 of {SPACE.format(SPACE.arch(6111))}: resumes after epoch 5 from its "
        "checkpoint ck/abc.pt\n"
    )


def test_a_training_prints_its_epochs_and_where_it_resumed(capsys):
    log = TrainLog(LazyBar("training"), epochs=12)
    log.resumed(4, Path("ck/abc.pt"), own=True)
    log.batch(EpochProgress(5, 12, 8, 16))
    assert log.done == 4.5  # what an interrupt message reports
    log.epoch({"epoch": 5, "train_loss": 0.5, "train_acc": 80.0, "valid_loss": 0.25,
               "valid_acc": 90.0, "lr": 0.05, "seconds": 1.5})  # fmt: skip
    assert capsys.readouterr().err.splitlines() == [
        "resuming from the checkpoint ck/abc.pt: epoch 5 of 12 next",
        "epoch 5/12  train loss 0.5000 acc 80.00  valid loss 0.2500 acc 90.00  lr 0.0500  1.5 s",
    ]
    quiet = TrainLog(LazyBar("training"), epochs=12, level=Verbosity.QUIET)
    quiet.resumed(4, Path("ck/abc.pt"), own=True)
    quiet.epoch({"epoch": 5, "train_loss": 0.5, "train_acc": 80.0, "lr": 0.05, "seconds": 1.0})
    assert capsys.readouterr().err == ""


def test_quiet_and_verbose_contradict():
    assert verbosity(False, False) is Verbosity.NORMAL
    with pytest.raises(ConfigError, match="contradict"):
        verbosity(True, True)
