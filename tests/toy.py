"""A tiny deterministic evaluator for testing the loop and strategies without any data file."""

from __future__ import annotations

from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.types import Arch, Fidelity, Result, Trial


class ToyEvaluator:
    """Accuracy grows with the number of 3×3 convolutions; 200 epochs adds 5 points; 1 s per epoch.

    It offers NB201's ladder; a proxy scores the accuracy, at 0.5 s.
    """

    budget_unit = "simulated"
    ladder = NB201_LADDER

    def __init__(self) -> None:
        self.calls = 0

    def describe(self) -> dict[str, str]:
        return {"benchmark": "toy"}

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        return float(fidelity.epochs) if fidelity.epochs else 0.5

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        self.calls += 1
        acc = 50.0 + 5.0 * sum(op == 3 for op in arch) + 0.1 * sum(arch)
        if fidelity.epochs >= 200:
            acc += 5.0
        metrics = dict.fromkeys(fidelity.proxies, acc) if fidelity.is_proxy else {"val_acc": acc}
        return Result(metrics=metrics, cost=self.expected_cost(arch, fidelity))

    def observe(self, trial: Trial) -> None:
        pass

    def test_accuracy(self, arch: Arch) -> float:
        return 50.0 + 5.0 * sum(op == 3 for op in arch)


def toy_score_fn(delay: float = 0.0):
    """A proxy scorer for table tests: 'size' = sum of op ids, 'conv' = number of 3×3 convs."""
    import time

    from pmfnas.spaces.nb201 import NB201Space

    space = NB201Space()

    def score(index: int) -> dict[str, tuple[float, float]]:
        time.sleep(delay)
        cell = space.arch(index)
        return {"size": (float(sum(cell)), 0.01), "conv": (float(cell.count(3)), 0.02)}

    return score
