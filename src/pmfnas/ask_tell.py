"""Ask and tell: any strategy driving a user's own training code, as Optuna's ``study.ask()``
and ``study.tell()`` do.

    study = AskTellStudy("pmf", budget=3600.0, storage="runs.db", name="mine")
    while (trial := study.ask()) is not None:
        network = trial.build(num_classes=10)         # the cell as a torch module
        accuracy, seconds = my_training(network, epochs=trial.fidelity.epochs)
        study.tell(trial, {"val_acc": accuracy}, cost=seconds)
    print(study.best)

The budget is spent by the costs told (seconds of training, or any unit the user keeps to),
so a study resumes the same on any machine. Up to ``pending`` trials may be out at once (a
user's own workers); :meth:`AskTellStudy.ask` answers WAIT when a result is needed first. A
failure is told with ``error=``: it is stored, retried (the next ask gives the same request
again, up to ``retries`` times) and then told to the strategy. With storage every ask and tell
is journaled; a new study object on the same file replays the journal and hands out again the
trials that were asked and never told.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Evaluator, Ladder
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.executors.base import Job, RealClock
from pmfnas.parallel import Asked, ParallelStudy
from pmfnas.spaces import SearchSpace, create_space
from pmfnas.storage import Storage
from pmfnas.strategies import strategy_from
from pmfnas.strategies.base import WAIT, Wait
from pmfnas.study import RETRIES
from pmfnas.types import Arch, Fidelity, Result, Trial

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class UserTrial:
    """An architecture to train at a fidelity; give it back to :meth:`AskTellStudy.tell`."""

    ticket: int
    arch: Arch
    fidelity: Fidelity
    space: SearchSpace

    def build(
        self, num_classes: int, *, input_channels: int = 3, channels: int = 16, cells: int = 5
    ) -> nn.Module:
        """The torch network of the cell (the fidelity's width and depth where it sets them)."""
        return self.space.network(
            self.arch,
            channels=self.fidelity.channels or channels,
            cells_per_stage=self.fidelity.cells or cells,
            num_classes=num_classes,
            input_channels=input_channels,
        )

    def __str__(self) -> str:
        return f"{self.space.format(self.arch)} at {self.fidelity}"


class _UserEvaluator:
    """What the study knows of a user's training: its fidelities, and costs only once told."""

    budget_unit = "simulated"  # the told costs are the clock

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder

    def describe(self) -> dict[str, str]:
        return {"evaluator": "user"}

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> None:
        return None

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        raise ConfigError("an ask-and-tell study evaluates nothing itself: tell it the results")

    def observe(self, trial: Trial) -> None:
        pass

    def test_accuracy(self, arch: Arch) -> None:
        return None


class _UserWorkers:
    """The user as the executor: submitted jobs wait in a queue for :meth:`AskTellStudy.ask`;
    the clock is the cost told so far."""

    kind = "user"
    virtual_clock = False
    local = False

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError(f"pending must be at least 1, got {workers}")
        self.workers = workers
        self.queue: deque[tuple[int, Job]] = deque()
        self._clock = RealClock()

    def start(self, evaluator: Evaluator, clock_from: float = 0.0) -> None:
        self._clock.start(evaluator.budget_unit, clock_from)

    def now(self) -> float:
        return self._clock.now()

    def committed(self) -> float:
        return 0.0

    def submit(self, ticket: int, job: Job) -> None:
        self.queue.append((ticket, job))

    def arrived(self, result: Result) -> None:
        self._clock.arrived(result)

    def heartbeats(self) -> dict[int, float]:
        return {}

    def close(self) -> None:
        self.queue.clear()


class AskTellStudy:
    """A strategy's search over a user's own training (see the module docstring).

    Args:
        strategy: a registered strategy's name (``pmfnas strategies`` lists them).
        budget: the total cost to spend, in the unit of the costs told (seconds, say).
        space: the search space's name.
        ladder: the fidelities the strategy climbs (default: NB201's, 12 and 200 epochs).
        params: the strategy's own parameters.
        seed: every random choice of the strategy.
        pending: trials that may be asked and not yet told at once.
        storage: an SQLite file; the study resumes from it.
        name: the study's name in the file.
        retries: how many times a failed trial is asked again.
    """

    def __init__(
        self,
        strategy: str = "pmf",
        budget: float = 3600.0,
        *,
        space: str = "nb201",
        ladder: Ladder = NB201_LADDER,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        pending: int = 1,
        storage: str | Path | None = None,
        name: str = "default",
        retries: int = RETRIES,
    ) -> None:
        self.space = create_space(space)
        built = strategy_from(strategy, self.space, dict(params or {}), seed=seed, ladder=ladder)
        self._workers = _UserWorkers(pending)
        self._stack = ExitStack()
        db = self._stack.enter_context(Storage(storage)) if storage else None
        self._study = ParallelStudy(
            self.space,
            _UserEvaluator(ladder),
            built,
            budget,
            executor=self._workers,
            storage=db,
            name=name,
            retries=retries,
        )
        self.stop_reason: str | None = None
        self._out: dict[int, UserTrial] = {}
        self.stop_reason = self._study.open() or None

    def ask(self) -> UserTrial | Wait | None:
        """The next trial to train; WAIT when a told result is needed first; ``None`` once the
        search is over (:attr:`stop_reason` says why)."""
        while True:
            if self._workers.queue:
                ticket, job = self._workers.queue.popleft()
                trial = UserTrial(ticket, job.arch, job.fidelity, self.space)
                self._out[ticket] = trial
                return trial
            if self.stop_reason is not None:
                return None if not self._out else WAIT
            if len(self._out) >= self._workers.workers:
                return WAIT
            step = self._study.ask_live()
            if isinstance(step, Wait):
                return WAIT
            if isinstance(step, str):
                self.stop_reason = step
            elif isinstance(step, Asked):
                continue  # submitted: it waits in the queue

    def tell(
        self,
        trial: UserTrial,
        metrics: Mapping[str, float] | None = None,
        cost: float = 0.0,
        *,
        error: str | None = None,
    ) -> None:
        """Record what training ``trial`` measured (``val_acc`` is the search signal) and what
        it cost; ``error`` (or a non-finite ``val_acc``) records a failure instead."""
        if self._out.pop(trial.ticket, None) is None:
            raise ConfigError(f"trial {trial} was not asked, or was told already")
        metrics = dict(metrics or {})
        if error is None and not math.isfinite(metrics.get("val_acc", math.nan)):
            error = f"no finite val_acc among the metrics told ({', '.join(metrics) or 'none'})"
        result = Result(metrics=metrics, cost=float(cost), error=error)
        self._workers.arrived(result)
        reason = self._study.arrive_live(trial.ticket, result)
        self.stop_reason = self.stop_reason or reason

    @property
    def trials(self) -> list[Trial]:
        """Every trial so far, in the order they were told."""
        return list(self._study.trials)

    @property
    def best(self) -> Trial | None:
        """The strategy's returned trial so far."""
        return self._study.strategy.best([t for t in self._study.trials if t.measured])

    def close(self) -> None:
        """Record why the study stopped and release its storage file."""
        self._study.close(self.stop_reason or "stopped by the user")
        self._stack.close()

    def __enter__(self) -> AskTellStudy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
