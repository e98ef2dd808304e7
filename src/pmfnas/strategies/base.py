"""The ask/tell contract every search strategy follows, and the strategy registry.

A study may run several evaluations at once (several workers): it then asks while earlier
requests are still *in flight* (asked, not yet told), and tells results in the order they finish.
Every ask says what is in flight and what budget is left (:class:`AskContext`); a strategy that
needs a result before it can ask again answers :data:`WAIT`, distinct from ``None`` (finished).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.registry import Registry
from pmfnas.spaces.base import SearchSpace
from pmfnas.strategies.parameters import check_params
from pmfnas.types import Arch, Fidelity, Request, Trial, check_seed

STRATEGIES: Registry[type[BaseStrategy]] = Registry("strategy")

Role = Literal["low", "medium", "high", "single"]
"""A fidelity's role in a :class:`~pmfnas.evaluators.base.Ladder`."""


@dataclass(frozen=True)
class AskContext:
    """What a study tells a strategy with each ask.

    ``budget_left`` is the budget still unspent in the evaluator's unit (``None`` outside a
    study); with several workers, the work they can still do before the budget ends, less what
    the evaluations in flight will take. A replay with the same budget sees the same values, so
    a strategy that reads it stays a pure function of its parameters, seed, told trials and
    budget; to extend a study to a larger budget it must plan against a budget of its own (PMF's
    ``budget`` parameter). ``in_flight`` are the requests asked and not yet told, oldest first.
    """

    budget_left: float | None = None
    in_flight: tuple[Request, ...] = ()

    def busy(self, fidelity: Fidelity | None = None) -> set[Arch]:
        """The architectures in flight (at ``fidelity`` only, when given)."""
        return {r.arch for r in self.in_flight if fidelity is None or r.fidelity == fidelity}


SERIAL = AskContext()
"""The context of an ask outside a study: no budget known, nothing in flight."""


class Wait:
    """The answer of a strategy that cannot ask before a result in flight arrives."""

    def __repr__(self) -> str:
        return "WAIT"


WAIT = Wait()


@dataclass(frozen=True)
class Unaffordable:
    """The step a strategy wanted next, which the budget it had left could not pay for: its
    fidelity, its expected cost and what was left (both in the budget's unit)."""

    fidelity: Fidelity
    cost: float
    left: float


class BaseStrategy(ABC):
    """A search strategy: proposes evaluations (``ask``) and learns from their results (``tell``).

    A strategy is a pure function of its parameters, its seed and the results it is told, so the
    study can rebuild it after a crash by replaying the stored trials. It never sees the
    benchmark's test accuracy: only the trial's ``metrics``.

    The fidelities it asks for are its parameters, by default those the evaluator offers in its
    ``ladder`` (:class:`~pmfnas.evaluators.base.Ladder`, see :meth:`fidelity_of`); ``params()``
    reports them resolved, so a stored study rebuilds its strategy without the ladder.
    """

    name: ClassVar[str]

    unaffordable: Unaffordable | None = None
    """Set by an ``ask`` that returns ``None`` because its next step costs more than the budget
    left (:attr:`AskContext.budget_left`), so that the study reports the budget, not the
    strategy, as why the search stopped."""

    finished_because: str = ""
    """Set by an ``ask`` that returns ``None`` because the strategy's own plan ran out: why, in
    a few words for the stop reason (``all 20 steps done``)."""

    def __init__(self, space: SearchSpace, seed: int = 0, *, ladder: Ladder | None = None) -> None:
        self.space = space
        self.seed = check_seed(seed)
        self.ladder = ladder or Ladder()

    def fidelity_of(self, role: Role, given: str | None, param: str) -> Fidelity:
        """The fidelity the user's parameter ``param`` names (``given``), else the one the
        ladder offers for ``role``; a :class:`ConfigError` if neither does."""
        if given is not None:
            return Fidelity.parse(given)
        offered = getattr(self.ladder, role)
        if offered is None:
            raise ConfigError(
                f"{self.name} needs a {role} fidelity: pass {param}=... (the evaluator offers none)"
            )
        return offered

    @abstractmethod
    def ask(self, context: AskContext = SERIAL) -> Request | Wait | None:
        """The next evaluation to run; :data:`WAIT` when nothing can be asked before a request
        in flight is told; ``None`` when the strategy has nothing more to ask. A request must
        not repeat one in flight (the study would pay for it twice or hold it back)."""

    @abstractmethod
    def tell(self, trial: Trial) -> None:
        """Receive the finished trial of an earlier :meth:`ask` (with several workers, in the
        order the evaluations finish, not the order they were asked)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The strategy's settings, stored with the study so that a resume uses the same ones."""

    def best(self, trials: Sequence[Trial]) -> Trial | None:
        """The trial to return: :func:`best_evidence` (a strategy that selects by proxies
        overrides this method)."""
        return best_evidence(trials)


def best_evidence(trials: Sequence[Trial]) -> Trial | None:
    """The best validation accuracy among the highest-fidelity evidence, ties to the lower
    validation loss where there is one (a small validation set saturates: many networks miss
    the same one or two images), then to the earlier trial. Proxy-only trials carry no
    validation accuracy and are not evidence here."""
    done = [t for t in trials if "val_acc" in t.metrics]
    return max(done, key=evidence_rank, default=None)


def evidence_rank(trial: Trial) -> tuple[Fidelity, float, float, int]:
    """The order of :func:`best_evidence` (higher is better), for a trial with a validation
    accuracy: its fidelity, then the accuracy, the lower loss and the earlier number."""
    return (trial.fidelity, trial.val_acc, -trial.metrics.get("val_loss", 0.0), -trial.number)


def scale_free_sum(trials: Sequence[Trial], proxies: Sequence[str]) -> list[float]:
    """Per trial, the sum over ``proxies`` of its score divided by the largest |score| among
    ``trials``: proxies live on unrelated scales, and this lets none dominate by its units
    (MFNAS's multi-fidelity fitness; the proxy rungs of successive halving)."""
    if not trials:  # a rung whose every evaluation failed
        return []
    scores = np.array([[t.metrics[p] for p in proxies] for t in trials], dtype=float)
    scale = np.abs(scores).max(axis=0)
    return (scores / np.where(scale > 0, scale, 1.0)).sum(axis=1).tolist()


def create_strategy(
    name: str, space: SearchSpace, seed: int = 0, *, ladder: Ladder | None = None, **params: Any
) -> BaseStrategy:
    """Build a registered strategy on the evaluator's ``ladder`` (its fidelities where
    ``params`` name none): :func:`strategy_from`, with the parameters as keywords."""
    return strategy_from(name, space, params, seed=seed, ladder=ladder)


def strategy_from(
    name: str,
    space: SearchSpace,
    params: Mapping[str, Any],
    *,
    seed: int = 0,
    ladder: Ladder | None = None,
) -> BaseStrategy:
    """Build a registered strategy from a user's ``params`` (a mapping, so that a parameter
    named ``seed`` or ``ladder`` is refused as unknown rather than clashing with the keywords).

    The ladder's parameters for this strategy (:attr:`~pmfnas.evaluators.base.Ladder.params`)
    come first, ``params`` over them. An unknown name or parameter, or a value not of the
    parameter's declared type, is a clear error; a value given as text (``-o population=20``)
    is parsed as that type
    (:func:`~pmfnas.strategies.parameters.check_params`)."""
    cls = STRATEGIES.get(name)
    given = {**(ladder.params.get(name, {}) if ladder else {}), **params}
    return cls(space, seed=seed, ladder=ladder, **check_params(name, cls, given))
