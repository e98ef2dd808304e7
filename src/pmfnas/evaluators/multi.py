"""One evaluator for the whole fidelity ladder on real data: proxies, then training.

Multi-fidelity strategies ask for ``proxy:...`` and ``epochs=...`` fidelities of the same search;
this routes each request to the evaluator that serves it, so both charge the same wall clock.
"""

from __future__ import annotations

from dataclasses import replace

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import BudgetUnit
from pmfnas.evaluators.proxy import ProxyEvaluator
from pmfnas.evaluators.training import TrainingEvaluator
from pmfnas.types import Arch, Fidelity, Result, Trial


class MultiFidelityEvaluator:
    """Proxy fidelities go to ``proxies``, training fidelities to ``training``; both must count
    costs in the same unit (wall seconds or FLOPs). Its ladder is the training's with the
    proxies' low rung below (by default ``proxy:meco,synflow → epochs=4 → epochs=12``)."""

    def __init__(self, proxies: ProxyEvaluator, training: TrainingEvaluator) -> None:
        if proxies.budget_unit != training.budget_unit:
            raise ConfigError(
                f"proxies count {proxies.budget_unit} and training {training.budget_unit}: "
                "one study charges one unit"
            )
        self.budget_unit: BudgetUnit = training.budget_unit
        self.proxies = proxies
        self.training = training
        self.ladder = replace(training.ladder, low=proxies.ladder.low)

    def _route(self, fidelity: Fidelity) -> ProxyEvaluator | TrainingEvaluator:
        return self.proxies if fidelity.is_proxy else self.training

    def describe(self) -> dict[str, str]:
        proxy = {f"proxy_{k}": v for k, v in self.proxies.describe().items()}
        return {**self.training.describe(), **proxy, "evaluator": "proxies+training"}

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None:
        return self._route(fidelity).expected_cost(arch, fidelity)

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        return self._route(fidelity).evaluate(arch, fidelity, limit)

    def observe(self, trial: Trial) -> None:
        self._route(trial.fidelity).observe(trial)

    def test_accuracy(self, arch: Arch) -> None:
        return None
