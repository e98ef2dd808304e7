"""Plain value types shared by every layer: fidelities, results, trials, budgets.

They are frozen dataclasses so that they can be hashed, compared, stored and sent to worker
processes without surprises. An architecture is a space-specific hashable value (for NAS-Bench-201 a
tuple of six operation ids); the space turns it into a canonical string for storage.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pmfnas.errors import BudgetError, ConfigError, FidelityError

Arch = tuple[int, ...]
"""A space-specific, hashable architecture (NAS-Bench-201: six op ids in canonical edge order)."""

Progress = Callable[[float, float], None]
"""Told ``(done, total)`` as long work advances: budget spent of a study's budget, epochs of a
training, cells read of a benchmark file."""

MAX_SEED = 2**32 - 1
"""The largest seed: NumPy refuses negative seeds, and the per-epoch torch seeds derived from a
seed must stay within 64 bits."""


def check_seed(seed: int) -> int:
    """``seed`` as an int, or a :class:`ConfigError` unless it is an integer in ``0..MAX_SEED``."""
    try:
        value = operator.index(seed)  # NumPy integers too, never floats
    except TypeError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return value


_PROXY = re.compile(r"proxy:([A-Za-z0-9_]+(?:,[A-Za-z0-9_]+)*)")
_SUPERNET = re.compile(r"supernet=([1-9][0-9]*)")
_KNOB = re.compile(r"([a-z]+)=([0-9.eE+-]+)")

KNOBS = ("horizon", "fraction", "resolution", "channels", "cells")
"""Training knobs a fidelity may set besides its epochs, in their text order."""


@dataclass(frozen=True)
class Fidelity:
    """How much effort one evaluation spends: zero-cost proxies, a training schedule, or a
    supernet's training (the cell a one-shot search derived after ``supernet`` epochs).

    A training fidelity is ``epochs`` plus optional knobs that make it cheaper: ``fraction`` of
    the training images, input ``resolution`` (pixels per side), network width ``channels`` (C)
    and ``cells`` per stage (N). A knob left at 0 (``fraction`` at 1) means the evaluator's full
    setting. ``horizon`` makes a schedule a prefix: ``epochs=3,horizon=12`` runs the first 3 epochs
    of the 12-epoch learning-rate schedule, so ``epochs=12`` can continue it (see
    :meth:`extends`). The text form is ``proxy:<name>[,<name>...]``, ``supernet=<E>`` or
    ``epochs=<E>[,horizon=<T>][,fraction=<f>][,resolution=<r>][,channels=<C>][,cells=<N>]``;
    :meth:`parse` accepts exactly what ``str()`` writes.

    Fidelities order from cheap to expensive: proxies, then supernet epochs (a cell measured by
    shared weights), then training schedules; schedules rank by epochs, then fraction,
    resolution, width and depth (full settings last).
    """

    epochs: int = 0
    proxies: tuple[str, ...] = ()
    horizon: int = 0
    fraction: float = 1.0
    resolution: int = 0
    channels: int = 0
    cells: int = 0
    supernet: int = 0

    def __post_init__(self) -> None:
        if (
            self.supernet < 0
            or [self.epochs > 0, bool(self.proxies), self.supernet > 0].count(True) != 1
        ):
            raise FidelityError(
                "a fidelity is either proxies, supernet epochs or a positive number of epochs"
            )
        if (self.proxies or self.supernet) and self.knobs():
            raise FidelityError("a proxy or supernet fidelity takes no training knobs")
        if not 0 < self.fraction <= 1:
            raise FidelityError(f"fraction must be in (0, 1], got {self.fraction}")
        for knob in ("horizon", "resolution", "channels", "cells"):
            if getattr(self, knob) < 0:
                raise FidelityError(f"{knob} must be positive, got {getattr(self, knob)}")
        if self.horizon and self.horizon < self.epochs:
            raise FidelityError(
                f"horizon {self.horizon} is shorter than the {self.epochs} epochs it should contain"
            )
        if self.horizon == self.epochs:  # the whole schedule: the same fidelity as no horizon
            object.__setattr__(self, "horizon", 0)

    @classmethod
    def parse(cls, text: str) -> Fidelity:
        """Read the text form (see the class docstring); anything else is a :class:`FidelityError`."""
        text = text.strip()
        if m := _PROXY.fullmatch(text):
            return cls(proxies=tuple(m.group(1).split(",")))
        if m := _SUPERNET.fullmatch(text):
            return cls(supernet=int(m.group(1)))
        expected = (
            "expected 'epochs=E[,horizon=T,fraction=f,resolution=r,channels=C,cells=N]', "
            "'proxy:NAME' or 'supernet=E'"
        )
        items = [_KNOB.fullmatch(part) for part in text.split(",")]
        if not all(items) or items[0].group(1) != "epochs":  # type: ignore[union-attr]
            raise FidelityError(f"unknown fidelity {text!r}: {expected}")
        values = {m.group(1): m.group(2) for m in items if m}
        names = [m.group(1) for m in items[1:] if m]
        if unknown := set(names) - set(KNOBS):
            raise FidelityError(
                f"fidelity {text!r}: unknown knob {sorted(unknown)[0]!r}; {expected}"
            )
        if len(values) != len(items) or names != [k for k in KNOBS if k in names]:
            raise FidelityError(f"fidelity {text!r}: knobs repeated or out of order; {expected}")
        try:
            knobs = {k: float(v) if k == "fraction" else int(v) for k, v in values.items()}
        except ValueError:
            raise FidelityError(f"fidelity {text!r}: {expected}") from None
        if knobs["epochs"] == 0 or any(knobs.get(k) == 0 for k in KNOBS):
            raise FidelityError(f"fidelity {text!r}: every value must be positive")
        return cls(**knobs)  # type: ignore[arg-type]

    @property
    def is_proxy(self) -> bool:
        return bool(self.proxies)

    @property
    def is_supernet(self) -> bool:
        return self.supernet > 0

    def knobs(self) -> dict[str, float]:
        """The training knobs this fidelity sets (those not at the full setting)."""
        full = {"horizon": 0, "fraction": 1.0, "resolution": 0, "channels": 0, "cells": 0}
        return {k: getattr(self, k) for k in KNOBS if getattr(self, k) != full[k]}

    @property
    def schedule(self) -> int:
        """Length of the learning-rate schedule in epochs (``horizon``, else ``epochs``)."""
        return self.horizon or self.epochs

    def extends(self, prefix: Fidelity) -> bool:
        """Whether this training continues ``prefix``: the same schedule, data and network,
        with more of its epochs (``epochs=12`` extends ``epochs=3,horizon=12``)."""
        same = ("fraction", "resolution", "channels", "cells")
        return (
            self.epochs > 0
            and prefix.epochs > 0
            and prefix.epochs < self.epochs
            and prefix.schedule == self.schedule
            and all(getattr(prefix, k) == getattr(self, k) for k in same)
        )

    def _rank(self) -> tuple[object, ...]:
        full = float("inf")
        return (
            not self.is_proxy,
            self.epochs > 0,
            self.proxies,
            self.supernet,
            self.epochs,
            self.fraction,
            self.resolution or full,
            self.channels or full,
            self.cells or full,
            self.schedule,
        )

    def __lt__(self, other: Fidelity) -> bool:
        return self._rank() < other._rank()

    def __le__(self, other: Fidelity) -> bool:
        return self._rank() <= other._rank()

    def __gt__(self, other: Fidelity) -> bool:
        return self._rank() > other._rank()

    def __ge__(self, other: Fidelity) -> bool:
        return self._rank() >= other._rank()

    def __str__(self) -> str:
        if self.proxies:
            return "proxy:" + ",".join(self.proxies)
        if self.supernet:
            return f"supernet={self.supernet}"
        knobs = "".join(f",{k}={v!r}" for k, v in self.knobs().items())
        return f"epochs={self.epochs}{knobs}"


class TrialState(StrEnum):
    """Life cycle of one evaluation request."""

    COMPLETE = "complete"
    REUSED = "reused"  # served from an earlier identical trial of the same study, at no cost
    STOPPED = "stopped"  # cut short when the budget ran out: partial, never evidence
    FAILED = "failed"  # the evaluation broke (an exception, a non-finite loss): never evidence


@dataclass(frozen=True)
class Result:
    """What an evaluator returns.

    ``metrics`` holds only what a strategy may see: ``val_acc`` is the search signal at this
    fidelity (see each evaluator for the split it comes from). ``curve`` is a per-epoch learning
    curve where one exists. ``cost`` is in the evaluator's budget unit (simulated seconds, wall
    seconds or FLOPs). ``stopped`` marks an evaluation cut short at the budget: its metrics are
    empty and ``curve`` holds only the epochs it finished. ``error`` says why an evaluation
    failed (empty: it did not).
    """

    metrics: dict[str, float]
    cost: float
    curve: tuple[dict[str, float], ...] = ()
    private: dict[str, float] = field(default_factory=dict)
    """Measured but never shown to a strategy (e.g. test accuracy); stored in the trial's info."""
    stopped: bool = False
    error: str = ""

    @property
    def val_acc(self) -> float:
        return self.metrics["val_acc"]


@dataclass(frozen=True)
class Request:
    """A strategy's wish: evaluate ``arch`` at ``fidelity``.

    ``reason`` (text for people) and ``info`` (data for reports) are stored with the trial: the
    study merges ``info`` into the trial's info. Keys a report reads (see
    :mod:`pmfnas.report.reasons`): ``origin``, why the architecture is evaluated, one of
    :data:`ORIGINS`; ``decisions``, a list of decisions taken with the request (PMF: a region
    stopped); ``predicted``, ``predicted_std`` and ``predicted_by``, what a model expected of its
    validation accuracy. A strategy may add keys of its own (ranks, parents, regions); values
    must be JSON (plain ``float``, never a NumPy scalar) and are never read back by a strategy,
    so a replay is exact whatever they hold.
    """

    arch: Arch
    fidelity: Fidelity
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)


ORIGINS = (
    "sampled",
    "mutation",
    "crossover",
    "promoted",
    "regional search",
    "refinement",
    "derived",
)
"""Why a strategy asks for an architecture (``Request.info["origin"]``): drawn at random,
changed from or crossed between evaluated ones, promoted to a higher fidelity, picked in PMF's
regional search or in its refinement around a new best; or read off a one-shot search's
supernet after an epoch."""


@dataclass(frozen=True)
class Trial:
    """One stored evaluation: the request, its result and when it ran (``clock`` = budget spent after it)."""

    number: int
    arch: Arch
    fidelity: Fidelity
    state: TrialState
    metrics: dict[str, float]
    cost: float
    clock: float
    curve: tuple[dict[str, float], ...] = ()
    reason: str = ""
    started: float = 0.0
    finished: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def val_acc(self) -> float:
        return self.metrics["val_acc"]

    @property
    def measured(self) -> bool:
        """Whether the trial holds what it asked for (complete or reused; not stopped at the
        budget, not failed): evidence a strategy may choose by."""
        return self.state in (TrialState.COMPLETE, TrialState.REUSED)

    @property
    def retried(self) -> bool:
        """A failed attempt the study ran again at once, never told to the strategy."""
        return self.state is TrialState.FAILED and bool(self.info.get("retried"))

    @property
    def told(self) -> bool:
        """Whether the study told the strategy of it (not stopped at the budget, not retried)."""
        return self.state is not TrialState.STOPPED and not self.retried


@dataclass
class Budget:
    """A spendable amount in the evaluator's unit: simulated seconds (tabular), wall seconds or
    FLOPs (real training)."""

    limit: float
    spent: float = 0.0

    def __post_init__(self) -> None:
        if not self.limit > 0:
            raise BudgetError(f"the budget must be positive, got {self.limit}")

    @property
    def remaining(self) -> float:
        return self.limit - self.spent

    def fits(self, cost: float) -> bool:
        return cost <= self.remaining + 1e-9

    def spend(self, cost: float) -> None:
        self.spent += cost
