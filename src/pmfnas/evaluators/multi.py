"""One evaluator for the whole fidelity ladder on real data: proxies, then training.

Multi-fidelity strategies ask for ``proxy:...`` and ``epochs=...`` fidelities of the same search;
this routes each request to the evaluator that serves it, so both charge the same wall clock.
"""

from __future__ import annotations

from pmfnas.evaluators.base import BudgetUnit
from pmfnas.evaluators.proxy import ProxyEvaluator
from pmfnas.evaluators.training import TrainingEvaluator
from pmfnas.types import Arch, Fidelity, Result


class MultiFidelityEvaluator:
    """Proxy fidelities go to ``proxies``, training fidelities to ``training``; costs are wall seconds."""

    budget_unit: BudgetUnit = "wall"

    def __init__(self, proxies: ProxyEvaluator, training: TrainingEvaluator) -> None:
        self.proxies = proxies
        self.training = training

    def _route(self, fidelity: Fidelity) -> ProxyEvaluator | TrainingEvaluator:
        return self.proxies if fidelity.is_proxy else self.training

    def describe(self) -> dict[str, str]:
        proxy = {f"proxy_{k}": v for k, v in self.proxies.describe().items()}
        return {**self.training.describe(), **proxy, "evaluator": "proxies+training"}

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None:
        return self._route(fidelity).expected_cost(arch, fidelity)

    def evaluate(self, arch: Arch, fidelity: Fidelity) -> Result:
        return self._route(fidelity).evaluate(arch, fidelity)

    def test_accuracy(self, arch: Arch) -> None:
        return None
