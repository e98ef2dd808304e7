"""Evaluation by NAS-Bench-301's surrogate (DARTS space, CIFAR-10) on a virtual clock.

The surrogate (:mod:`pmfnas.tables.nb301`) predicts a genotype's validation accuracy and the
training time up to each epoch 1..98 of NAS-Bench-301's training runs: points on the learning
curve of one 98-epoch schedule. There is no test accuracy, so the validation accuracy it
predicts is the only number a search of it has (reports say so). The fidelities are therefore
the full training ``epochs=98`` and its prefixes ``epochs=E,horizon=98``: a training that
extends an earlier one of the same genotype continues it and is charged only the further
predicted time (a promotion from 12 to 98 epochs pays 12 → 98 once, as a real training resumed
from its checkpoint would). The analytic ``params`` and ``flops`` of the evaluation network
(DARTS' 20 cells at C=36, 10 classes, 32x32 inputs) are free proxies.

Proxies measured on real CIFAR-10 images come from a DARTS proxy table (``pmfnas proxies compute
--space darts``), whose keys are the first genotypes of a seeded sample: :func:`sample_proxies`
reads one, and the evaluator then serves its proxies for those genotypes at their measured
seconds, with a ladder whose low fidelity they are and whose PMF ranks that very sample
(``pool`` and ``pool_seed``), the same for every search seed, as NB201's whole space is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pmfnas.errors import ConfigError, DataError, FidelityError
from pmfnas.evaluators.base import BudgetUnit, Ladder
from pmfnas.evaluators.proxy_table import ProxyTable
from pmfnas.spaces import sample_fingerprint, seeded_sample
from pmfnas.spaces.darts import DartsSpace
from pmfnas.spaces.darts.costs import params_and_flops
from pmfnas.tables.nb301 import MAX_EPOCH, MIN_EPOCH, NB301Surrogate
from pmfnas.types import Arch, Fidelity, Result, Trial

NB301_BUDGET = 500_000.0
"""Simulated seconds a search gets by default: about 100 full (98-epoch) trainings, whose
predicted time is 4,988 s on average over 200 seeded random genotypes (docs/darts.md)."""

NB301_LADDER = Ladder(
    low=Fidelity(proxies=("params", "flops")),
    medium=Fidelity(epochs=12, horizon=MAX_EPOCH),
    high=Fidelity(epochs=MAX_EPOCH),
    single=Fidelity(epochs=MAX_EPOCH),
    default_budget=NB301_BUDGET,
    params={
        "pmf": {"patience": 5, "refine": 12, "climb": 3, "climb_after": 3},
        "mfnas": {"proxies": "params,flops"},
    },
)
"""The free size proxies, the first 12 epochs of a full training (about a seventh of its time),
the full 98 epochs; single-fidelity strategies (random search, REA) evaluate full trainings, as
the NAS-Bench-301 paper's optimisers did.

PMF's parameters here follow the costs and the signals: a promotion continues a 12-epoch run
for about 4 more medium evaluations' time (16 on NB201), so a stall is 5 medium results without
a better one (20 on NB201: each about one promotion's worth); 12 epochs rank a genotype's
neighbours poorly (Spearman 0.39 against 98 epochs, ``benchmarks/nb301.py``), so stage 3
climbs from each of the best 3 full results, screening 12 of its 120 neighbours at medium
fidelity, and starts only once 3 regions' cells are fully trained, from the best of them (a
first region that happens to be poor would otherwise hold the whole climb; docs/results.md has
the measured variants).

MFNAS's fitness here is the free sizes: its own gradient proxies need real networks and images,
and the genotypes it breeds are not in any proxy table's sample."""

ANALYTIC_PROXIES = ("params", "flops")


@dataclass(frozen=True)
class SampleProxies:
    """Proxy scores measured for the first ``len(archs)`` genotypes of the seeded sample of
    ``sample_seed`` (:func:`sample_proxies`): per proxy, (score, seconds) by genotype."""

    source: str
    sample_seed: int
    archs: tuple[Arch, ...]
    scores: dict[str, dict[Arch, tuple[float, float]]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.scores)


def sample_proxies(table: ProxyTable) -> SampleProxies:
    """The scores of a DARTS proxy table, its keys as the genotypes they stand for; a
    :class:`ConfigError` for a table of another space or data than the surrogate's (DARTS,
    CIFAR-10), or of a sampler that draws otherwise."""
    settings = table.settings
    space = DartsSpace()
    if (settings.get("space"), settings.get("data")) != (space.name, "cifar10"):
        raise ConfigError(
            f"{table.path}: not a DARTS proxy table of cifar10 (space {settings.get('space')}, "
            f"data {settings.get('data')}): NAS-Bench-301 predicts CIFAR-10 trainings"
        )
    seed = settings["sample_seed"]
    if settings.get("sample") != sample_fingerprint(space, seed):
        raise ConfigError(
            f"{table.path}: its keys name the genotypes of another sampler (fingerprint "
            f"{settings.get('sample')}, this version's {sample_fingerprint(space, seed)}): "
            "compute the table again"
        )
    archs = tuple(seeded_sample(space, table.size(), seed))
    scores: dict[str, dict[Arch, tuple[float, float]]] = {}
    for name in table.proxies():
        values, seconds = table.arrays(name, len(archs))
        if gaps := int(np.isnan(values).sum()):
            raise ConfigError(
                f"{table.path} lacks {name} for {gaps} of its first {len(archs)} genotypes: "
                f"complete it (pmfnas proxies compute --space darts --archs {len(archs)})"
            )
        scores[name] = {
            arch: (float(v), float(s)) for arch, v, s in zip(archs, values, seconds, strict=True)
        }
    return SampleProxies(str(table.path), seed, archs, scores)


def table_ladder(proxies: SampleProxies) -> Ladder:
    """:data:`NB301_LADDER` with the table's proxies as its low fidelity, PMF ranking the
    table's sample (``pool`` and ``pool_seed``)."""
    pmf = {
        **NB301_LADDER.params["pmf"],
        "pool": len(proxies.archs),
        "pool_seed": proxies.sample_seed,
    }
    return replace(
        NB301_LADDER,
        low=Fidelity(proxies=proxies.names),
        params={**NB301_LADDER.params, "pmf": pmf},
    )


class NB301Evaluator:
    """Answer ``evaluate(arch, fidelity)`` from the NAS-Bench-301 surrogate.

    ``val_acc`` (percent) and ``val_loss`` are the surrogate's predictions at the fidelity's
    epoch. The cost is the predicted training time from the epochs this genotype was already
    trained for (none at first) to that epoch, the time made non-decreasing in the epoch (the
    surrogate's flattens and dips slightly near epoch 98; a longer training is never charged
    less); a point of a curve already trained past costs nothing. A genotype's whole predicted
    curve is computed once and kept.
    """

    budget_unit: BudgetUnit = "simulated"

    def __init__(self, surrogate: NB301Surrogate, proxies: SampleProxies | None = None) -> None:
        self.surrogate = surrogate
        self.proxies = proxies
        self.space = DartsSpace()
        self._curves: dict[Arch, dict[str, np.ndarray]] = {}
        self._sizes: dict[Arch, tuple[float, float]] = {}
        self._trained: dict[Arch, int] = {}  # epochs of the longest training of each genotype
        ladder = NB301_LADDER if proxies is None else table_ladder(proxies)
        self.ladder = replace(ladder, network_size=self.network_size)
        """:data:`NB301_LADDER` (or :func:`table_ladder`) with the evaluation network's sizes."""

    def describe(self) -> dict[str, str]:
        described = {"benchmark": "nb301", "dataset": "cifar10", "source": str(self.source)}
        if self.proxies is not None:
            described["proxy_table"] = self.proxies.source
        return described

    @property
    def source(self) -> Path:
        return Path(self.surrogate.source)

    def network_size(self, arch: Arch) -> tuple[float, float]:
        """Parameters and FLOPs (millions) of the evaluation network of ``arch``."""
        if arch not in self._sizes:
            params, flops = params_and_flops(arch)
            self._sizes[arch] = (params / 1e6, flops / 1e6)
        return self._sizes[arch]

    def curve(self, arch: Arch) -> dict[str, np.ndarray]:
        """``val_acc``, ``val_loss`` and the charged ``cost`` at epochs 1..98 (index epoch-1)."""
        if arch not in self._curves:
            epochs = list(range(MIN_EPOCH, MAX_EPOCH + 1))
            out = self.surrogate.predict([arch] * len(epochs), epochs)
            self._curves[arch] = {
                "val_acc": out["val_acc"],
                "val_loss": out["val_loss"],
                "cost": np.maximum.accumulate(out["runtime"]),
            }
        return self._curves[arch]

    def _check(self, fidelity: Fidelity) -> None:
        if fidelity.is_proxy:
            served = (*ANALYTIC_PROXIES, *(self.proxies.names if self.proxies else ()))
            if unknown := set(fidelity.proxies) - set(served):
                raise FidelityError(
                    f"no scores for proxy {', '.join(sorted(unknown))} on nb301 "
                    f"(served: {', '.join(served)}; measured ones from a proxy table)"
                )
        elif (
            fidelity.supernet
            or set(fidelity.knobs()) - {"horizon"}
            or fidelity.schedule != MAX_EPOCH
            or fidelity.epochs < MIN_EPOCH
        ):
            raise FidelityError(
                f"the nb301 surrogate predicts the learning curve of a {MAX_EPOCH}-epoch "
                f"training: epochs={MAX_EPOCH} or its first epochs, epochs=E,horizon="
                f"{MAX_EPOCH} ({MIN_EPOCH} <= E < {MAX_EPOCH}); not {fidelity}"
            )

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        self._check(fidelity)
        if fidelity.is_proxy:
            return sum(seconds for _, seconds in self._measured(arch, fidelity).values())
        cost = self.curve(arch)["cost"]
        trained = self._trained.get(arch, 0)
        if trained >= fidelity.epochs:
            return 0.0
        return float(cost[fidelity.epochs - 1] - (cost[trained - 1] if trained else 0.0))

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        """Predict ``arch``; its cost is known beforehand, so ``limit`` is never reached."""
        if fidelity.is_proxy:
            self._check(fidelity)
            sizes = self.network_size(arch)
            measured = self._measured(arch, fidelity)  # looked up once: scores and their cost
            scores = {
                name: measured[name][0] if name in measured else sizes[ANALYTIC_PROXIES.index(name)]
                for name in fidelity.proxies
            }
            return Result(metrics=scores, cost=sum(seconds for _, seconds in measured.values()))
        cost = self.expected_cost(arch, fidelity)
        curve = self.curve(arch)
        at = fidelity.epochs - 1
        metrics = {"val_acc": float(curve["val_acc"][at]), "val_loss": float(curve["val_loss"][at])}
        self._trained_to(arch, fidelity)
        return Result(metrics=metrics, cost=cost)

    def _measured(self, arch: Arch, fidelity: Fidelity) -> dict[str, tuple[float, float]]:
        """The table's (score, seconds) of each measured proxy ``fidelity`` asks for."""
        names = [n for n in fidelity.proxies if n not in ANALYTIC_PROXIES]
        if not names:
            return {}
        assert self.proxies is not None, "checked: measured proxies come from a table"
        if missing := [n for n in names if arch not in self.proxies.scores[n]]:
            raise FidelityError(
                f"the proxy table {self.proxies.source} has no {', '.join(missing)} score for "
                f"{self.space.format(arch)} (it scores the first {len(self.proxies.archs)} "
                f"genotypes of the seed-{self.proxies.sample_seed} sample)"
            )
        return {n: self.proxies.scores[n][arch] for n in names}

    def observe(self, trial: Trial) -> None:
        """A replayed trial trained its genotype as far as its fidelity: later trainings of it
        continue from there."""
        if trial.measured and not trial.fidelity.is_proxy:
            self._trained_to(trial.arch, trial.fidelity)

    def _trained_to(self, arch: Arch, fidelity: Fidelity) -> None:
        self._trained[arch] = max(self._trained.get(arch, 0), fidelity.epochs)

    def final_accuracy(self, arch: Arch) -> float:
        """The predicted validation accuracy after the full 98 epochs: what a bench compares."""
        return float(self.curve(arch)["val_acc"][MAX_EPOCH - 1])

    def test_accuracy(self, arch: Arch) -> None:
        """None: NAS-Bench-301 predicts validation accuracy only."""
        return None


def predicted_final_accuracy(arch: Arch, folders: Sequence[Path | str | None]) -> float | None:
    """The surrogate's predicted 98-epoch validation accuracy of ``arch`` (2 decimals: what a
    search reports), read from the first of ``folders`` that holds a surrogate (``None``: the
    default one under ``PMFNAS_DATA``); ``None`` where none can be read, or without onnxruntime."""
    for folder in folders:
        try:
            return round(NB301Evaluator(NB301Surrogate(folder)).final_accuracy(arch), 2)
        except (DataError, ConfigError):
            continue
    return None
