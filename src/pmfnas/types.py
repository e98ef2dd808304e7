"""Plain value types shared by every layer: fidelities, results, trials, budgets.

They are frozen dataclasses so that they can be hashed, compared, stored and sent to worker
processes without surprises. An architecture is a space-specific hashable value (for NAS-Bench-201 a
tuple of six operation ids); the space turns it into a canonical string for storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pmfnas.errors import BudgetError, FidelityError

Arch = tuple[int, ...]
"""A space-specific, hashable architecture (NAS-Bench-201: six op ids in canonical edge order)."""

_EPOCHS = re.compile(r"epochs=(\d+)")
_PROXY = re.compile(r"proxy:([A-Za-z0-9_]+(?:,[A-Za-z0-9_]+)*)")


@dataclass(frozen=True, order=True)
class Fidelity:
    """How much effort one evaluation spends: a zero-cost proxy or a number of training epochs.

    Fidelities order from cheap to expensive: every proxy ranks below every training schedule, and
    training schedules rank by epochs. The text form is ``proxy:<name>[,<name>...]`` or
    ``epochs=<E>``; :meth:`parse` accepts exactly what ``str()`` writes.
    """

    epochs: int = 0
    proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.epochs > 0) == bool(self.proxies):
            raise FidelityError("a fidelity is either proxies or a positive number of epochs")
        if self.epochs < 0:
            raise FidelityError(f"epochs must be positive, got {self.epochs}")

    @classmethod
    def parse(cls, text: str) -> Fidelity:
        """Read ``epochs=E`` or ``proxy:a,b``; anything else is a :class:`FidelityError`."""
        text = text.strip()
        if m := _EPOCHS.fullmatch(text):
            epochs = int(m.group(1))
            if epochs == 0:
                raise FidelityError("epochs must be positive in 'epochs=E'")
            return cls(epochs=epochs)
        if m := _PROXY.fullmatch(text):
            return cls(proxies=tuple(m.group(1).split(",")))
        raise FidelityError(f"unknown fidelity {text!r}: expected 'epochs=E' or 'proxy:NAME'")

    @property
    def is_proxy(self) -> bool:
        return bool(self.proxies)

    def __str__(self) -> str:
        return "proxy:" + ",".join(self.proxies) if self.proxies else f"epochs={self.epochs}"


class TrialState(StrEnum):
    """Life cycle of one evaluation request."""

    COMPLETE = "complete"
    REUSED = "reused"  # served from an earlier identical trial of the same study, at no cost


@dataclass(frozen=True)
class Result:
    """What an evaluator returns.

    ``metrics`` holds only what a strategy may see: ``val_acc`` is the search signal at this
    fidelity (see each evaluator for the split it comes from). ``curve`` is a per-epoch learning
    curve where one exists. ``cost`` is in the evaluator's budget unit (simulated or wall seconds).
    """

    metrics: dict[str, float]
    cost: float
    curve: tuple[dict[str, float], ...] = ()

    @property
    def val_acc(self) -> float:
        return self.metrics["val_acc"]


@dataclass(frozen=True)
class Request:
    """A strategy's wish: evaluate ``arch`` at ``fidelity``. ``reason`` is stored with the trial."""

    arch: Arch
    fidelity: Fidelity
    reason: str = ""


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


@dataclass
class Budget:
    """A spendable amount of seconds, simulated (tabular) or wall-clock (real training)."""

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
