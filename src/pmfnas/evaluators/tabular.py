"""Evaluation by table look-up on NAS-Bench-201, with the recorded training time as simulated cost."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pmfnas.errors import ConfigError, DataError, FidelityError, NotAvailableError
from pmfnas.evaluators.base import BudgetUnit, Ladder
from pmfnas.spaces.nb201.costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.tables.nb201 import (
    NATS_BUDGETS,
    NB201_DATASETS,
    TEST_ACC_12,
    VAL_ACC_12,
    NB201Benchmark,
)
from pmfnas.types import Arch, Fidelity, Result, Trial

TABULAR_EPOCHS = (12, 200)
NB201_LADDER = Ladder(
    low=Fidelity(proxies=("meco", "synflow")),
    medium=Fidelity(epochs=12),
    high=Fidelity(epochs=200),
    single=Fidelity(epochs=12),
)
"""NAS-Bench-201's fidelities: two cheap proxies of the shipped proxy table that rank well
together (≈ 0.13 s a cell, so 5 % of a NATS budget scores half to all of the space), then the
two recorded schedules; single-fidelity strategies search on the 12-epoch signal, as NATS-Bench
and the peers do. Why these proxies, and what the proxy rung adds: ``docs/results.md``."""
ANALYTIC_PROXIES = ("params", "flops")
SIGNAL12 = {"default": VAL_ACC_12, "peers": TEST_ACC_12}
"""The 12-epoch search signal of each protocol. ``default``: the 12-epoch schedule's validation
accuracy, an honest signal. ``peers``: its *test* accuracy, the only 12-epoch number the data
had when the peers of docs/nb201.md were measured; kept so that numbers compare with theirs."""
PROTOCOLS = tuple(SIGNAL12)


class TabularEvaluator:
    """Answer ``evaluate(arch, fidelity)`` from the NAS-Bench-201 tables on a virtual clock.

    Fidelities and their signal (``val_acc``) and cost, per dataset:

    - ``proxy:<names>``: the recorded Zen-score (``zen``), the exact ``params`` and ``flops`` of
      the full-size network (analytic, cost 0: a formula, not a measurement), and any proxy of a
      proxy table passed as ``proxies`` (name → (scores, seconds) arrays in NATS order, e.g. from
      :meth:`ProxyTable.arrays`); ``val_acc`` is not set; cost = the recorded computing times.
    - ``epochs=12``: the 12-epoch schedule's accuracy of the ``protocol`` (:data:`SIGNAL12`):
      its validation accuracy by default, its test accuracy under ``"peers"``, the protocol of
      the peers (docs/nb201.md). Cost = 12 × per-epoch training time.
    - ``epochs=200``: the 200-epoch validation accuracy (CIFAR-10: the cifar10-valid split).
      Cost = 200 × per-epoch training time. A promotion from 12 to 200 epochs pays both: the
      12-epoch schedule is a separate training run.

    The 200-epoch test accuracy is available only through :meth:`test_accuracy`, for reports.
    """

    budget_unit: BudgetUnit = "simulated"

    def __init__(
        self,
        bench: NB201Benchmark,
        dataset: str,
        proxies: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        protocol: str = "default",
    ) -> None:
        if dataset not in NB201_DATASETS:
            raise DataError(
                f"unknown dataset {dataset!r} for nb201 (known: {', '.join(NB201_DATASETS)})"
            )
        if protocol not in SIGNAL12:
            raise ConfigError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
        self.bench = bench
        self.dataset = dataset
        self.protocol = protocol
        self.space = bench.space
        self.proxies = dict(proxies or {})
        self._signal12 = SIGNAL12[protocol]
        self.ladder = replace(
            NB201_LADDER, default_budget=NATS_BUDGETS[dataset], network_size=self.network_size
        )
        """:data:`NB201_LADDER` with the dataset's NATS budget and its networks' sizes."""

    def describe(self) -> dict[str, str]:
        """Part of a stored study's settings: a study is never resumed under the other protocol."""
        return {
            "benchmark": "nb201",
            "dataset": self.dataset,
            "source": str(self.bench.source),
            "protocol": self.protocol,
        }

    def _value(self, metric: str, arch: Arch) -> float:
        return self.bench.value(metric, self.dataset, self.space.index(arch))

    def _proxy(self, name: str, arch: Arch) -> tuple[float, float]:
        """(score, seconds) of a recorded proxy; NaN (not computed) is not available."""
        if name == "zen":
            return self._value("zen_score", arch), self._value("zen_time", arch)
        if name in ANALYTIC_PROXIES:
            return self.network_size(arch)[ANALYTIC_PROXIES.index(name)], 0.0
        scores, seconds = self.proxies[name]
        index = self.space.index(arch)
        if np.isnan(scores[index]):
            raise NotAvailableError(f"proxy {name} was not computed for NB201 index {index}")
        return float(scores[index]), float(seconds[index])

    def network_size(self, arch: Arch) -> tuple[float, float]:
        """Parameters and FLOPs (millions) of the full-size network (C=16, N=5) of ``arch`` on
        the dataset, counted as NB201 records them."""
        params, flops = all_params_and_flops(*DATASET_SHAPES[self.dataset])
        index = self.space.index(arch)
        return float(params[index]), float(flops[index])

    def _check(self, fidelity: Fidelity) -> None:
        if fidelity.is_proxy:
            served = {"zen", *ANALYTIC_PROXIES, *self.proxies}
            if unknown := set(fidelity.proxies) - served:
                raise FidelityError(
                    f"no recorded scores for proxy {', '.join(sorted(unknown))} "
                    f"(served: {', '.join(sorted(served))}; compute a proxy table first)"
                )
        elif fidelity.knobs():
            raise FidelityError(
                f"the nb201 table records full-size training on all images only, not {fidelity}"
            )
        elif fidelity.epochs not in TABULAR_EPOCHS:
            raise FidelityError(f"the nb201 table records epochs=12 and epochs=200, not {fidelity}")

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        self._check(fidelity)
        if fidelity.is_proxy:
            return sum(self._proxy(name, arch)[1] for name in fidelity.proxies)
        return fidelity.epochs * self._value("train_time_per_epoch", arch)

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        """Look up ``arch``; its cost is known beforehand, so ``limit`` is never reached."""
        cost = self.expected_cost(arch, fidelity)
        if fidelity.is_proxy:
            scores = {name: self._proxy(name, arch)[0] for name in fidelity.proxies}
            return Result(metrics=scores, cost=cost)
        metric = self._signal12 if fidelity.epochs == 12 else "val_acc_200"
        return Result(metrics={"val_acc": self._value(metric, arch)}, cost=cost)

    def observe(self, trial: Trial) -> None:
        """Costs come from the table: nothing to learn from a replayed trial."""

    def test_accuracy(self, arch: Arch) -> float:
        return self._value("test_acc_200", arch)
