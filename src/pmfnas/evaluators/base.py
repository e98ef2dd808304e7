"""The interface between a study and whatever measures an architecture (a table, a proxy, training)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pmfnas.types import Arch, Fidelity, Result, Trial

BudgetUnit = Literal["simulated", "wall", "flops"]
"""What costs and budgets count: simulated seconds (a table's recorded training time, charged,
never slept), wall seconds (real work, as long as it takes) or FLOPs (real work, counted: the
same on every machine, so a search under a FLOPs budget is reproducible anywhere)."""


NetworkSize = Callable[[Arch], tuple[float, float]]
"""Parameters and FLOPs, in millions, of the network an evaluator measures for an architecture."""


@dataclass(frozen=True)
class Ladder:
    """What an evaluator offers a strategy: its fidelities by the role strategies give them, the
    budget a search of it gets by default, and how large the networks it measures are.

    A strategy takes each fidelity it needs from here unless its parameters name one, so that
    no strategy carries one benchmark's fidelities as defaults (NAS-Bench-201's 12 and 200
    epochs are the tabular evaluator's; real training climbs a shorter ladder). A role an
    evaluator leaves at ``None`` must come from the strategy's parameters; the empty
    ``Ladder()`` says nothing at all.

    Attributes:
        low: the cheap proxies of a multi-fidelity strategy's first rung (``None``: none).
        medium: the short training a multi-fidelity strategy screens candidates with.
        high: the full training whose result it returns.
        single: the one fidelity of a single-fidelity strategy (random search, REA).
        default_budget: the budget of a search that names none, in the evaluator's unit.
        network_size: counts an architecture's network as the evaluator measures it, for
            strategies with size limits (MFNAS); ``None``: the evaluator does not count.
        params: strategy parameters, by strategy name, that this evaluator's costs call for
            (a user's own parameters override them): how long PMF waits before a stall, say,
            depends on how many medium evaluations one promotion costs.
    """

    low: Fidelity | None = None
    medium: Fidelity | None = None
    high: Fidelity | None = None
    single: Fidelity | None = None
    default_budget: float | None = None
    network_size: NetworkSize | None = field(default=None, compare=False, repr=False)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    def rungs(self) -> tuple[Fidelity, ...]:
        """The multi-fidelity fidelities it has, cheapest first (low, medium, high)."""
        return tuple(f for f in (self.low, self.medium, self.high) if f is not None)


class Evaluator(Protocol):
    """Measures architectures at fidelities and says what each measurement cost.

    ``budget_unit`` tells the study what costs are (see :data:`BudgetUnit`). ``expected_cost``
    lets the study refuse a request that would end past the budget; it returns ``None`` when the
    cost is only known afterwards. ``evaluate`` gets the budget still left as ``limit``: an
    evaluator that can stop part-way (training, at a batch boundary) stops there and returns a
    ``stopped`` result rather than overrun it. ``observe`` hands over a stored trial replayed on
    resume, so that an evaluator that learns its costs from what it ran learns from those too.
    ``ladder`` is what it offers strategies (:class:`Ladder`).
    """

    budget_unit: BudgetUnit

    @property
    def ladder(self) -> Ladder: ...

    def describe(self) -> dict[str, str]:
        """What is evaluated (benchmark, dataset ...), stored with the study."""
        ...

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None: ...

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result: ...

    def observe(self, trial: Trial) -> None: ...

    def test_accuracy(self, arch: Arch) -> float | None:
        """The reported test accuracy of a final architecture; never shown to a strategy."""
        ...
