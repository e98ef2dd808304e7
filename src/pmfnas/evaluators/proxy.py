"""Evaluation by zero-cost proxies on real data: no training, one or two mini-batches at init."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pmfnas.data import ImageDataset, load_dataset
from pmfnas.errors import ConfigError, DataError, FidelityError
from pmfnas.evaluators.base import BudgetUnit, Ladder
from pmfnas.evaluators.proxies import ProxyScore, compute_proxies, proxy_flops
from pmfnas.evaluators.proxy_table import ScoreFn, Scores
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.spaces import SearchSpace, create_space
from pmfnas.types import Arch, Fidelity, Result, Trial, check_seed

PROXY_LADDER = Ladder(low=NB201_LADDER.low)
"""The proxy rung of a real-data search: the pair chosen on the NB201 table; real training adds
the rest."""


class ProxyEvaluator:
    """Score NB201 cells with proxies on two seeded mini-batches of a real dataset.

    The batches are drawn once from the training part with a generator seeded by ``seed`` (same
    seed, same batches, same scores) and every network is initialised from ``seed`` too. The cost
    of an evaluation is the measured wall time of its proxies, or their counted FLOPs
    (:func:`~pmfnas.evaluators.proxies.proxy_flops`); both are stored in the trial's info.

    Args:
        data: the dataset the batches come from.
        batch_size: images per mini-batch (the proxies' papers use 64-128).
        channels, cells_per_stage: network size; smaller than NB201's 16 / 5 is cheaper and,
            where it keeps the ranking, good enough for a proxy.
        budget_unit: ``"wall"`` or ``"flops"``, what costs count.
        space: the search space whose networks are scored (default: NAS-Bench-201's).
    """

    def __init__(
        self,
        data: ImageDataset,
        *,
        batch_size: int = 64,
        channels: int = 16,
        cells_per_stage: int = 5,
        seed: int = 0,
        budget_unit: BudgetUnit = "wall",
        space: SearchSpace | None = None,
    ) -> None:
        self.space = space or create_space()
        self.space.check_buildable(data, channels, cells_per_stage)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if len(data.train_y) <= batch_size:
            raise DataError(
                f"{data.name}: the proxies need more than one batch of {batch_size} training "
                f"images; it has {len(data.train_y)}"
            )
        self.budget_unit: BudgetUnit = budget_unit
        self.ladder = PROXY_LADDER
        self.data = data
        self.batch_size = batch_size
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.seed = check_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        batches = data.batches("train", batch_size, shuffle=True, generator=generator)
        (self._x1, self._y1), (self._x2, self._y2) = next(batches), next(batches)
        self._seconds: dict[Fidelity, list[float]] = {}

    def settings(self) -> dict[str, Any]:
        """What the scores depend on (stored with a proxy table)."""
        return {
            "space": self.space.name,
            "data": self.data.name,
            "batch_size": self.batch_size,
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "seed": self.seed,
        }

    def describe(self) -> dict[str, str]:
        settings = {k: str(v) for k, v in self.settings().items()}
        return {"evaluator": "proxy", **settings, "budget_unit": self.budget_unit}

    def scores(self, arch: Arch, names: list[str] | tuple[str, ...]) -> dict[str, ProxyScore]:
        """The proxies of ``arch``'s network, which its space builds."""
        sizes = {
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "num_classes": self.data.num_classes,
            "input_channels": self.data.channels,
        }
        return compute_proxies(
            lambda: self.space.network(arch, **sizes),
            names,
            self._x1,
            self._y1,
            inputs2=self._x2,
            targets2=self._y2,
            seed=self.seed,
            flops=self.forward_flops(arch) / 1e6,
        )

    def forward_flops(self, arch: Arch) -> float:
        """FLOPs of one image's forward pass through ``arch``'s network, as its space counts."""
        return self.space.forward_flops(
            arch,
            channels=self.channels,
            cells_per_stage=self.cells_per_stage,
            num_classes=self.data.num_classes,
            input_size=self.data.image_size[0],
            input_channels=self.data.channels,
        )

    def flops(self, arch: Arch, fidelity: Fidelity) -> float:
        """The counted FLOPs of scoring ``arch`` with ``fidelity``'s proxies."""
        forward = self.forward_flops(arch)
        shares = proxy_flops(fidelity.proxies, forward, len(self._y1), len(self._y2))
        return sum(shares.values())

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None:
        """The counted FLOPs, or the mean seconds of the earlier scorings with these proxies
        (``None`` before the first: a scoring takes a fraction of a second)."""
        self._require_proxies(fidelity)
        if self.budget_unit == "flops":
            return self.flops(arch, fidelity)
        seconds = self._seconds.get(fidelity)
        return sum(seconds) / len(seconds) if seconds else None

    def _require_proxies(self, fidelity: Fidelity) -> None:
        if not fidelity.is_proxy:
            raise FidelityError(f"the proxy evaluator serves proxy fidelities only, not {fidelity}")

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        """Score ``arch``; a scoring is too short to stop part-way, so ``limit`` is not used."""
        self._require_proxies(fidelity)
        scores = self.scores(arch, fidelity.proxies)
        seconds = sum(s.seconds for s in scores.values())
        flops = self.flops(arch, fidelity)
        self._seconds.setdefault(fidelity, []).append(seconds)
        return Result(
            metrics={name: s.score for name, s in scores.items()},
            cost=flops if self.budget_unit == "flops" else seconds,
            private={"seconds": seconds, "flops": flops},
        )

    def observe(self, trial: Trial) -> None:
        """Learn the seconds of a replayed scoring."""
        if "seconds" in trial.info:
            self._seconds.setdefault(trial.fidelity, []).append(trial.info["seconds"])

    def test_accuracy(self, arch: Arch) -> None:
        return None


def table_scorer(
    data: str,
    data_dir: Path | None,
    names: tuple[str, ...],
    archs: Mapping[int, Arch],
    threads: int = 1,
    space: str = "nb201",
    **settings: int,
) -> ScoreFn:
    """The per-key scorer a :class:`ProxyTable` fills with (pass it as a ``functools.partial``):
    key i scores ``archs[i]`` of ``space``, on ``threads`` torch threads in its process (one
    process per core scales better than threads on small networks)."""
    evaluator = ProxyEvaluator(load_dataset(data, data_dir), space=create_space(space), **settings)
    torch.set_num_threads(threads)

    def score(index: int) -> Scores:
        found = evaluator.scores(archs[index], names)
        return {name: (s.score, s.seconds) for name, s in found.items()}

    return score
