"""Evaluation by table look-up on NAS-Bench-201, with the recorded training time as simulated cost."""

from __future__ import annotations

from pmfnas.benchmarks.nb201 import DATASETS, NB201Benchmark
from pmfnas.errors import DataError, FidelityError
from pmfnas.evaluators.base import BudgetUnit
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.types import Arch, Fidelity, Result

ZEN = Fidelity(proxies=("zen",))
TABULAR_EPOCHS = (12, 200)


class TabularEvaluator:
    """Answer ``evaluate(arch, fidelity)`` from the NAS-Bench-201 tables on a virtual clock.

    Fidelities and their signal (``val_acc``) and cost, per dataset:

    - ``proxy:zen``: the recorded Zen-score (as ``zen``; ``val_acc`` is not set), cost = its
      recorded computing time.
    - ``epochs=12``: the 12-epoch schedule's validation accuracy where the source records it
      (official archive); the CSV bundle records only the 12-epoch *test* accuracy, which is then
      the signal, as in the protocol of ``PEERS.md``. Cost = 12 × per-epoch training time.
    - ``epochs=200``: the 200-epoch validation accuracy (CIFAR-10: the cifar10-valid split).
      Cost = 200 × per-epoch training time. A promotion from 12 to 200 epochs pays both: the
      12-epoch schedule is a separate training run.

    The 200-epoch test accuracy is available only through :meth:`test_accuracy`, for reports.
    """

    budget_unit: BudgetUnit = "simulated"

    def __init__(self, bench: NB201Benchmark, dataset: str) -> None:
        if dataset not in DATASETS:
            raise DataError(f"unknown dataset {dataset!r} for nb201 (known: {', '.join(DATASETS)})")
        self.bench = bench
        self.dataset = dataset
        self.space = NB201Space()
        self._signal12 = "val_acc_12" if bench.available("val_acc_12", dataset) else "test_acc_12"

    def describe(self) -> dict[str, str]:
        return {"benchmark": "nb201", "dataset": self.dataset, "source": str(self.bench.source)}

    def _value(self, metric: str, arch: Arch) -> float:
        return self.bench.value(metric, self.dataset, self.space.index(arch))

    def _check(self, fidelity: Fidelity) -> None:
        if fidelity.is_proxy:
            if fidelity != ZEN:
                raise FidelityError(f"the nb201 table serves the proxy 'zen' only, not {fidelity}")
        elif fidelity.epochs not in TABULAR_EPOCHS:
            raise FidelityError(f"the nb201 table records epochs=12 and epochs=200, not {fidelity}")

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        self._check(fidelity)
        if fidelity.is_proxy:
            return self._value("zen_time", arch)
        return fidelity.epochs * self._value("train_time_per_epoch", arch)

    def evaluate(self, arch: Arch, fidelity: Fidelity) -> Result:
        cost = self.expected_cost(arch, fidelity)
        if fidelity.is_proxy:
            return Result(metrics={"zen": self._value("zen_score", arch)}, cost=cost)
        metric = self._signal12 if fidelity.epochs == 12 else "val_acc_200"
        return Result(metrics={"val_acc": self._value(metric, arch)}, cost=cost)

    def test_accuracy(self, arch: Arch) -> float:
        return self._value("test_acc_200", arch)
