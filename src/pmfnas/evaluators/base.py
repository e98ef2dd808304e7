"""The interface between a study and whatever measures an architecture (a table, a proxy, training)."""

from __future__ import annotations

from typing import Literal, Protocol

from pmfnas.types import Arch, Fidelity, Result, Trial

BudgetUnit = Literal["simulated", "wall", "flops"]
"""What costs and budgets count: simulated seconds (a table's recorded training time, charged,
never slept), wall seconds (real work, as long as it takes) or FLOPs (real work, counted: the
same on every machine, so a search under a FLOPs budget is reproducible anywhere)."""


class Evaluator(Protocol):
    """Measures architectures at fidelities and says what each measurement cost.

    ``budget_unit`` tells the study what costs are (see :data:`BudgetUnit`). ``expected_cost``
    lets the study refuse a request that would end past the budget; it returns ``None`` when the
    cost is only known afterwards. ``evaluate`` gets the budget still left as ``limit``: an
    evaluator that can stop part-way (training, at a batch boundary) stops there and returns a
    ``stopped`` result rather than overrun it. ``observe`` hands over a stored trial replayed on
    resume, so that an evaluator that learns its costs from what it ran learns from those too.
    """

    budget_unit: BudgetUnit

    def describe(self) -> dict[str, str]:
        """What is evaluated (benchmark, dataset ...), stored with the study."""
        ...

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None: ...

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result: ...

    def observe(self, trial: Trial) -> None: ...

    def test_accuracy(self, arch: Arch) -> float | None:
        """The reported test accuracy of a final architecture; never shown to a strategy."""
        ...
