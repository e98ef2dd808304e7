"""What a bench produced: one record per (strategy, seed) search and their aggregate, with the
notes that say under which protocol they were measured. Plain values: the report reads them
without running anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmfnas.evaluators.tabular import PROTOCOLS
from pmfnas.tables.nb201_proxies import SHIPPED_NAME, shipped_proxies

ANYTIME_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
CURVE_POINTS = 101
"""Cost points (every 1 % of the budget) at which the anytime curve of a run is sampled."""

SIGNAL12_NOTES = {
    "default": "12-epoch validation (x-valid)",
    "peers": "12-epoch test (as the peers were first measured)",
}
"""The 12-epoch signal of each protocol, in words."""
PROTOCOL_NOTES = {
    protocol: f"the NB201 protocol of docs/nb201.md: 15,625 cells, signals {signal} / 200-epoch validation accuracy "
    "(CIFAR-100/ImageNet16-120: NASLib's one-seed number, a test-split accuracy), cost = "
    "cifar10-valid train time x dataset ratio, one worker, no evaluation ending past the budget; "
    "returned: best by the highest-fidelity validation evidence, its 200-epoch test accuracy; "
    "anytime: the same rule at 10/25/50/100 % of the budget"
    for protocol, signal in SIGNAL12_NOTES.items()
}
assert set(SIGNAL12_NOTES) == set(PROTOCOLS)
NB301_NOTE = (
    "NAS-Bench-301 through YAHPO Gym's surrogate (DARTS space, CIFAR-10, docs/darts.md): "
    "signals are predicted validation accuracies at 12 and 98 epochs, cost = predicted training "
    "time, one worker, no evaluation ending past the budget; returned: best by the "
    "highest-fidelity validation evidence, its predicted 98-epoch validation accuracy (the "
    "surrogate has no test accuracy); anytime: the same rule at 10/25/50/100 % of the budget"
)
FINAL = {
    "nb201": ("test_acc", "test accuracy after 200 epochs", "test acc"),
    "nb301": (
        "val_acc_98",
        "predicted validation accuracy after 98 epochs (no test accuracy)",
        "val acc (98 ep.)",
    ),
}
"""Per benchmark, the number a bench compares the returned architectures by: its key in the
JSON, what it is in words, and its column label."""
REUSE_NOTES = {
    True: "repeated requests are served free from the run's own earlier trial (peers paid for them)",
    False: "every request is paid, repeats included (as the peers)",
}


def proxy_note(benchmark: str = "nb201", proxy_table: str | None = None) -> str:
    """Which proxy scores a bench serves, for its JSON."""
    if benchmark == "nb301":
        free = "params and flops of the evaluation network (analytic, free)"
        if proxy_table is None:
            return free
        return (
            f"the measured proxies of the DARTS proxy table {proxy_table} for its genotypes; {free}"
        )
    arrays = shipped_proxies()
    if not arrays:
        return "recorded zen only (no shipped proxy table)"
    return (
        f"{SHIPPED_NAME} ({', '.join(sorted(arrays))}; computed on CIFAR-10 images, served for "
        "every dataset) and the recorded zen"
    )


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one (strategy, seed) search. ``final_acc`` is what the bench compares
    (:data:`FINAL`: NB201's 200-epoch test accuracy, NB301's predicted 98-epoch validation
    accuracy) of the returned architecture, ``anytime`` the same at fractions of the budget, and
    ``curve`` at the :data:`CURVE_POINTS` evenly spaced costs ``0..budget`` (NaN before any
    evidence)."""

    strategy: str
    seed: int
    final_acc: float
    val_acc: float | None  # None when the returned trial is proxy-only evidence (MFNAS)
    cost: float
    arch: str
    index: int | None  # None in a space without indices (DARTS)
    fidelity: str
    anytime: dict[str, float | None]
    n_trials: int
    reused: int
    curve: tuple[float, ...]

    def to_json(self, final_key: str = "test_acc") -> dict[str, Any]:
        """The record, its final accuracy under ``final_key`` (:data:`FINAL`)."""
        record = {k: v for k, v in self.__dict__.items() if k != "curve"}
        return {(final_key if k == "final_acc" else k): v for k, v in record.items()}


def _stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean, sample std and count of the values present (``None`` = no architecture yet)."""
    present = [v for v in values if v is not None]
    return {
        "mean": float(np.mean(present)) if present else None,
        "std": float(np.std(present, ddof=1)) if len(present) > 1 else None,
        "runs": len(present),
    }


@dataclass(frozen=True)
class BenchResult:
    """Every run of a bench, in (strategy, seed) order, with what is needed to aggregate them."""

    benchmark: str
    dataset: str
    budget: float
    reuse: bool
    protocol: str
    space_best: float | None
    """The best final accuracy in the space, regret measured from it (``None``: not known,
    as for NB301's space of about 10^18 genotypes)."""
    params: dict[str, dict[str, Any]]
    runs: list[RunRecord]
    proxy_table: str | None = None
    """The DARTS proxy table whose measured proxies an NB301 bench served (``None``: none)."""

    @property
    def final_key(self) -> str:
        """The final accuracy's key in summaries and JSON (:data:`FINAL`)."""
        return FINAL[self.benchmark][0]

    @property
    def final_note(self) -> str:
        return FINAL[self.benchmark][1]

    @property
    def final_label(self) -> str:
        return FINAL[self.benchmark][2]

    @property
    def protocol_note(self) -> str:
        return NB301_NOTE if self.benchmark == "nb301" else PROTOCOL_NOTES[self.protocol]

    @property
    def strategies(self) -> list[str]:
        return list(self.params)

    def of(self, strategy: str) -> list[RunRecord]:
        return [r for r in self.runs if r.strategy == strategy]

    def curve(self, strategy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cost points, and the mean and sample std over seeds of the anytime final accuracy there
        (over the seeds that had an architecture at that cost; NaN where none or one had)."""
        acc = np.ma.masked_invalid(np.array([r.curve for r in self.of(strategy)]))
        points = np.linspace(0.0, self.budget, CURVE_POINTS)
        return points, acc.mean(axis=0).filled(np.nan), acc.std(axis=0, ddof=1).filled(np.nan)

    def summary(self) -> list[dict[str, Any]]:
        """Per strategy: final accuracy (under :attr:`final_key`), regret, cost and anytime final
        accuracy over the seeds."""
        rows = []
        for name in self.strategies:
            runs = self.of(name)
            final = _stats([r.final_acc for r in runs])
            known = self.space_best is not None and final["mean"] is not None
            rows.append(
                {
                    "strategy": name,
                    "params": self.params[name],
                    "runs": len(runs),
                    self.final_key: final,
                    "regret": self.space_best - final["mean"] if known else None,
                    "cost": float(np.mean([r.cost for r in runs])),
                    "n_trials": float(np.mean([r.n_trials for r in runs])),
                    "reused": float(np.mean([r.reused for r in runs])),
                    "anytime": {
                        str(f): _stats([r.anytime[str(f)] for r in runs]) for f in ANYTIME_FRACTIONS
                    },
                }
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "dataset": self.dataset,
            "budget": self.budget,
            "reuse": self.reuse,
            "reuse_note": REUSE_NOTES[self.reuse],
            "protocol": self.protocol,
            "protocol_note": self.protocol_note,
            "proxies": proxy_note(self.benchmark, self.proxy_table),
            "final": self.final_note,
            f"space_best_{self.final_key}": self.space_best,
            "summary": self.summary(),
            "results": [r.to_json(self.final_key) for r in self.runs],
        }
