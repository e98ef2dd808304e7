"""What a search and a training show while they run, so that a person can follow them.

On stderr (stdout keeps the summary), in plain lines that a pipe, a file or CI keeps as well as a
terminal: one line per finished trial of a search (number, fidelity, result, cost, what the
search has spent, the best so far, the architecture), one per finished epoch of ``pmfnas
train``, and a line when a study or a training resumes. On a terminal the bar below them also
shows the work in progress (the trial's architecture, its epoch and batch).

A search's trials at the cheapest rung of a strategy that climbs several (the thousands of
proxy scorings of PMF's first stage) are shown only when they are a new best, unless
``--verbose``; ``--quiet`` shows none. Nothing here imports torch: the trainings' watcher is
a protocol (:class:`pmfnas.training.loop.TrainingWatcher`) that these classes follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pmfnas.cli.common import LazyBar, err, fmt
from pmfnas.errors import ConfigError
from pmfnas.strategies.base import evidence_rank
from pmfnas.study import StudyWatcher
from pmfnas.types import Request, Trial, TrialState
from pmfnas.units import format_amount

if TYPE_CHECKING:
    from pmfnas.spaces import SearchSpace
    from pmfnas.training.loop import EpochProgress

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print the summary only: no trial or epoch lines.")
]
VerboseOption = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="A line for every trial, the cheapest rung's too."),
]


class Verbosity(IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


def verbosity(quiet: bool, verbose: bool = False) -> Verbosity:
    """The verbosity ``--quiet`` and ``--verbose`` ask for (not both)."""
    if quiet and verbose:
        raise ConfigError("--quiet and --verbose contradict each other: give one")
    return Verbosity.QUIET if quiet else Verbosity.VERBOSE if verbose else Verbosity.NORMAL


def say(line: str) -> None:
    """One plain line on stderr, above the bar while one is shown."""
    err.print(line, markup=False, highlight=False, soft_wrap=True)


class SearchLog(StudyWatcher):
    """A search's trial lines on stderr and its live bar; also the watcher of its trainings
    (:class:`~pmfnas.training.loop.TrainingWatcher`), for the epoch and batch in progress."""

    def __init__(
        self, bar: LazyBar, space: SearchSpace, unit: str, level: Verbosity = Verbosity.NORMAL
    ) -> None:
        self.bar = bar
        self.space = space
        self.unit = unit
        self.level = level
        self.screening: str | None = None
        """The cheapest rung of a strategy that climbs several: shown only for a new best."""
        self.best: Trial | None = None
        self._trial = self._arch = ""  # the trial in progress

    # ------------------------------------------------------------------ the study

    def planned(self, rungs: Sequence[str]) -> None:
        self.screening = rungs[0] if len(rungs) > 1 else None

    def replayed(self, study: str, trials: int) -> None:
        if self.level > Verbosity.QUIET:
            say(f"resuming study {study}: {trials:,} stored trials replayed")

    def started(self, number: int, request: Request, spent: float, budget: float) -> None:
        self._trial = f"trial {number}: {request.fidelity}"
        self._arch = self.space.format(request.arch)
        self.bar.update(spent, budget)
        self.bar.note(f"{self._trial} of {self._arch}")

    def finished(self, trial: Trial, spent: float, budget: float) -> None:
        new_best = "val_acc" in trial.metrics and (
            self.best is None or evidence_rank(trial) > evidence_rank(self.best)
        )
        if new_best:
            self.best = trial
        if self._shown(trial, new_best):
            say(self.line(trial, spent, budget, new_best))

    def _shown(self, trial: Trial, new_best: bool) -> bool:
        if self.level is Verbosity.QUIET:
            return False
        screening = str(trial.fidelity) == self.screening
        failed = trial.state is TrialState.FAILED
        return self.level is Verbosity.VERBOSE or not screening or new_best or failed

    def line(self, trial: Trial, spent: float, budget: float, new_best: bool) -> str:
        """One trial, for people: what it measured and cost, and where the search stands."""
        parts = [f"trial {trial.number}", str(trial.fidelity), _result(trial)]
        parts.append(f"cost {format_amount(trial.cost, self.unit)}")
        parts.append(
            f"spent {format_amount(spent, self.unit)} of {format_amount(budget, self.unit)}"
        )
        if new_best:
            parts.append("new best")
        elif self.best is not None:
            parts.append(
                f"best {fmt(self.best.val_acc)} % (trial {self.best.number}, {self.best.fidelity})"
            )
        parts.append(self.space.format(trial.arch))
        return "  ".join(parts)

    # ------------------------------------------------------------------ its trainings

    def resumed(self, epochs: int, source: Path, own: bool) -> None:
        doing = f"{self._trial} of {self._arch}"
        if own and self.level > Verbosity.QUIET:
            say(f"{doing}: resumes after epoch {epochs} from its checkpoint {source}")
        elif self.level is Verbosity.VERBOSE:
            say(f"{doing}: continues the {epochs} epochs of a shorter training")

    def batch(self, at: EpochProgress) -> None:
        where = f"epoch {at.epoch}/{at.epochs}, batch {at.batch}/{at.batches}"
        self.bar.note(f"{self._trial}, {where}, {self._arch}")  # the end may be cut: the cell

    def epoch(self, row: dict[str, float]) -> None:
        pass


def _result(trial: Trial) -> str:
    """What a trial measured: its validation accuracy or its proxies' scores."""
    if trial.state is TrialState.STOPPED:
        return f"stopped at the budget after {trial.info.get('epochs_done', 0.0):.2f} epochs"
    if trial.state is TrialState.FAILED:
        again = ", run again" if trial.retried else ""
        return f"failed: {trial.info.get('error', 'no reason stored')}{again}"
    if "val_acc" in trial.metrics:
        shown = f"val {fmt(trial.val_acc)} %"
    else:
        shown = ", ".join(f"{name} {value:.4g}" for name, value in trial.metrics.items())
    if trial.state is TrialState.REUSED:
        shown += f" (reused trial {trial.info.get('reused_trial')})"
    return shown


class TrainLog:
    """``pmfnas train``'s epoch lines on stderr and its live bar (a
    :class:`~pmfnas.training.loop.TrainingWatcher`); ``done`` is how far it got, in epochs."""

    def __init__(self, bar: LazyBar, epochs: int, level: Verbosity = Verbosity.NORMAL) -> None:
        self.bar = bar
        self.epochs = epochs
        self.level = level
        self.done = 0.0

    def resumed(self, epochs: int, source: Path, own: bool) -> None:
        self.done = float(epochs)
        if self.level is Verbosity.QUIET:
            return
        if epochs >= self.epochs:
            say(f"all {self.epochs} epochs are in the checkpoint {source}: nothing to train")
        else:
            say(f"resuming from the checkpoint {source}: epoch {epochs + 1} of {self.epochs} next")

    def batch(self, at: EpochProgress) -> None:
        self.done = at.done
        self.bar.update(at.done, at.epochs)
        self.bar.note(f"epoch {at.epoch}/{at.epochs}, batch {at.batch}/{at.batches}")

    def epoch(self, row: dict[str, Any]) -> None:
        if self.level is Verbosity.QUIET:
            return
        parts = [f"epoch {row['epoch']}/{self.epochs}"]
        parts.append(f"train loss {row['train_loss']:.4f} acc {fmt(row['train_acc'])}")
        if "valid_acc" in row:
            parts.append(f"valid loss {row['valid_loss']:.4f} acc {fmt(row['valid_acc'])}")
        parts.append(f"lr {row['lr']:.4f}")
        parts.append(f"{row['seconds']:.1f} s")
        say("  ".join(parts))
