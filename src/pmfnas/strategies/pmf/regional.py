"""Stage 2 of PMF: regional search at medium fidelity (and stage 3's refinement around a new best).

Candidates are the unevaluated cells of the open regions, of the narrowed space (the best
``keep`` share by low score) and of the frontier (the neighbours of the best medium results).
A tree-ensemble surrogate of the medium accuracy ranks them. The regions' centres are evaluated
first; after that each pick is a Thompson draw from all candidates (the best cell of one
bootstrap member), which tries structures the surrogate's mean has written off. A batch of more
than one pick (fewer surrogate fits) adds, before its draw, one pick by upper confidence bound
from each of the most promising open regions, so several areas are searched at once. A region
gets ``region_min`` results before it competes on its potential, and is closed when even its
optimistic bound cannot beat the best medium result.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pmfnas.predictors import EnsemblePredictor
from pmfnas.strategies.pmf.exploration import LowFill, Region
from pmfnas.strategies.pmf.pool import Pool
from pmfnas.types import Trial

FRONTIER = 4
"""The best medium results whose one-edge neighbours are candidates."""

SURROGATE = "medium surrogate"
"""Who predicted a medium pick's accuracy (``predicted_by`` in the trial's info)."""


@dataclass(frozen=True)
class Pick:
    """A queued medium evaluation of ``cell``: why, in words (``reason``) and as data (``info``)."""

    cell: int
    reason: str
    info: dict[str, Any] = field(default_factory=dict)


class RegionalSearch:
    """The medium-fidelity search: regions, surrogate and the queue of medium evaluations.

    Cells are numbers of the ``pool``; ``features`` has one row per cell (encoding, then its
    score in ``low`` in the last column), and grows with the pool, the low scores of cells that
    join it predicted by ``fill``. ``medium`` is the strategy's own dict of medium results
    (shared, not copied). Stops go to ``notes``, for the strategy to attach to its next request
    and log as decisions.
    """

    def __init__(
        self,
        pool: Pool,
        low: np.ndarray,
        fill: LowFill,
        narrow: np.ndarray,
        regions: list[Region],
        medium: dict[int, Trial],
        settings: dict[str, Any],
        seed: int,
    ) -> None:
        self.pool = pool
        self._low_fill = fill
        self.features = np.hstack([pool.encoding, low[:, None]])
        self.low = self.features[:, -1]
        self.narrow = narrow
        self.regions = regions
        self.medium = medium
        self.settings = settings
        self.seed = seed
        self.queue: deque[Pick] = deque()
        self.busy: set[int] = set()
        """Cells in flight (set by the strategy before each ask): never picked again."""
        self.notes: list[str] = []
        self.region_of = np.full(pool.size, -1)
        for region in regions:
            self.region_of[region.members] = region.number
        self._surrogate: EnsemblePredictor | None = None
        self._fitted_on = 0
        self._rng = np.random.default_rng([seed, 2])

    @property
    def best_medium(self) -> float:
        return max((t.val_acc for t in self.medium.values()), default=-math.inf)

    def surrogate(self, refit: bool = False) -> EnsemblePredictor:
        """The medium-accuracy surrogate; ``refit`` takes in the medium results that arrived
        since the last fit (once per batch, not per ask: the fit is the costly part)."""
        cells = list(self.medium)
        if self._surrogate is None or (refit and len(cells) > self._fitted_on):
            self._surrogate = EnsemblePredictor(
                self.settings["surrogate"],
                self.settings["members"],
                min_points=max(self.settings["regions"], 2),
                seed=self.seed + len(cells),
            ).fit(self.features[cells], [self.medium[c].val_acc for c in cells])
            self._fitted_on = len(cells)
        return self._surrogate

    def _grow(self) -> None:
        """Rows for the cells that joined the pool since (neighbours outside the sample)."""
        new = self.pool.encoding[len(self.features) :]
        if len(new):
            rows = np.hstack([new, self._low_fill.predict(new)[:, None]])
            self.features = np.vstack([self.features, rows])
            self.low = self.features[:, -1]
            self.region_of = np.concatenate([self.region_of, np.full(len(new), -1)])

    def _taken(self, high: dict[int, Trial]) -> set[int]:
        return {*self.medium, *high, *self.busy, *(pick.cell for pick in self.queue)}

    def _candidates(self, high: dict[int, Trial]) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """Cells, their region (-1: none) and a label saying where each comes from."""
        where = dict.fromkeys(self.narrow.tolist(), "narrowed space")
        owner: dict[int, int] = {}
        for region in self.regions:
            for c in region.members.tolist():
                if region.is_open:
                    where[c], owner[c] = f"region {region.number}", region.number
                else:
                    where.pop(c, None)
        best = sorted(self.medium, key=lambda c: -self.medium[c].val_acc)
        for cell in best[:FRONTIER]:
            label = f"frontier of trial {self.medium[cell].number}"
            for arch in self.pool.space.neighbours(self.pool.arch(cell)):
                where.setdefault(self.pool.number(arch), label)
        self._grow()
        cells = np.array(sorted(set(where) - self._taken(high)), dtype=np.int64)
        return cells, np.array([owner.get(int(c), -1) for c in cells], dtype=np.int64), where

    def fill(self, high: dict[int, Trial]) -> None:
        """Queue the next batch: its last pick from anywhere by a Thompson draw (the best cell of
        one bootstrap member: a sample of what the data allow), the others one from each of the
        most promising open regions by UCB; no two picks one edge apart."""
        cells, owner, where = self._candidates(high)
        if len(cells) == 0:
            return
        surrogate = self.surrogate(refit=True)
        mu, spread = surrogate.predict(self.features[cells], noise=False)
        self._close_regions(owner, mu + 2 * np.hypot(spread, surrogate.noise))
        keep = np.array([r < 0 or self.regions[r].is_open for r in owner], dtype=bool)
        cells, owner, mu, spread = cells[keep], owner[keep], mu[keep], spread[keep]
        ucb = mu + self.settings["kappa"] * spread
        tie = -self.low[cells]
        evidence = self._evidence()
        floor = self.settings["region_min"]
        ranked = sorted(
            set(owner[owner >= 0].tolist()),
            key=lambda r: (evidence[r] >= floor, evidence[r], -ucb[owner == r].max()),
        )
        batch = self.settings["batch"]
        slots: list[int | None] = [*ranked[: batch - 1]]
        slots += [None] * (batch - len(slots))
        encoding = self.features[:, :-1]
        free = np.ones(len(cells), dtype=bool)
        for region in slots:
            allowed = free & (owner == region) if region is not None else free
            if not allowed.any():
                allowed = free
            if not allowed.any():
                break
            score = ucb if region is not None else surrogate.sample(self.features[cells], self._rng)
            i = int(np.lexsort((tie, -np.where(allowed, score, -np.inf)))[0])
            cell = int(cells[i])
            free &= (encoding[cells] != encoding[cell]).sum(axis=1) >= 4  # > 1 edge apart
            rule = "UCB" if region is not None else "Thompson draw"
            reason = (
                f"stage 2: {where[cell]}, {rule} {score[i]:.2f} ({mu[i]:.2f} ± {spread[i]:.2f})"
            )
            info = {"origin": "regional search", "source": where[cell], "rule": rule}
            info |= _predicted(float(score[i]), float(mu[i]), float(spread[i]))
            self.queue.append(Pick(cell, reason, info))

    def _evidence(self) -> list[int]:
        """Medium results inside each region."""
        inside = self.region_of[list(self.medium)].tolist()
        return [inside.count(region.number) for region in self.regions]

    def _close_regions(self, owner: np.ndarray, bound: np.ndarray) -> None:
        """Stop searching a region whose optimistic bound (μ + 2σ, noise included) cannot beat
        the best medium result; only once it has ``region_min`` results (one short training in
        an area says little: its best cell may be one edge from its worst)."""
        if self._surrogate is None or self._surrogate.n_members == 0:
            return
        evidence = self._evidence()
        best = self.best_medium
        for region in self.regions:
            if not region.is_open or evidence[region.number] < self.settings["region_min"]:
                continue
            mine = bound[owner == region.number]
            if len(mine) == 0:
                why = "every cell evaluated"
            elif mine.max() < best:
                why = f"best bound {mine.max():.2f} < best medium {best:.2f}"
            else:
                continue
            region.is_open = False
            self.notes.append(f"stop region {region.number}: {why}")

    def refine(self, cell: int, high: dict[int, Trial]) -> None:
        """Stage 3 refinement: the surrogate's favourite one-edge neighbours of a new
        high-fidelity best go to the front of the queue, to compete for promotion."""
        taken = self._taken(high)
        near = [self.pool.number(a) for a in self.pool.space.neighbours(self.pool.arch(cell))]
        self._grow()
        cells = np.array([c for c in near if c not in taken], dtype=np.int64)
        if len(cells) == 0 or not self.medium:
            return
        mu, spread = self.surrogate(refit=True).predict(self.features[cells], noise=False)
        ucb = mu + self.settings["kappa"] * spread
        order = np.lexsort((-self.low[cells], -ucb))[: self.settings["refine"]]
        number = high[cell].number
        for i in order[::-1]:
            reason = (
                f"stage 3 refinement around high-fidelity best trial {number}: "
                f"UCB {ucb[i]:.2f} ({mu[i]:.2f} ± {spread[i]:.2f})"
            )
            info = {"origin": "refinement", "around_trial": number, "rule": "UCB"}
            info |= _predicted(float(ucb[i]), float(mu[i]), float(spread[i]))
            self.queue.appendleft(Pick(int(cells[i]), reason, info))


def _predicted(score: float, mean: float, std: float) -> dict[str, Any]:
    """A pick's score by its rule and the surrogate's prediction, as trial info."""
    return {"score": score, "predicted": mean, "predicted_std": std, "predicted_by": SURROGATE}
