"""The interface between a study and whatever measures an architecture (a table, a proxy, training)."""

from __future__ import annotations

from typing import Literal, Protocol

from pmfnas.types import Arch, Fidelity, Result

BudgetUnit = Literal["simulated", "wall"]


class Evaluator(Protocol):
    """Measures architectures at fidelities and says what each measurement cost.

    ``budget_unit`` tells the study whether costs are simulated seconds (tabular: charged, never
    slept) or wall seconds (real work). ``expected_cost`` lets the study refuse a request that
    would end past the budget; it returns ``None`` when the cost is only known afterwards.
    """

    budget_unit: BudgetUnit

    def describe(self) -> dict[str, str]:
        """What is evaluated (benchmark, dataset ...), stored with the study."""
        ...

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None: ...

    def evaluate(self, arch: Arch, fidelity: Fidelity) -> Result: ...

    def test_accuracy(self, arch: Arch) -> float | None:
        """The reported test accuracy of a final architecture; never shown to a strategy."""
        ...
