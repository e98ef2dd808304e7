"""Stage 1 of PMF: score a large sample at low fidelity and find the promising regions.

A region is a neighbourhood in the encoding (the cells within ``radius`` edge changes of a
centre) around a cell that scores well, so stage 2 searches around several good areas instead of
a top-k list that may all sit in one. Cells the low fidelity did not reach get a score predicted
from their encoding, so every cell PMF ranks (:mod:`~pmfnas.strategies.pmf.pool`) has a score
even when only part of them was scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pmfnas.predictors import EnsemblePredictor, rank_scores

FILL_ROWS = 3000
"""Scored cells (at most) the encoding → low score model is fitted on: enough for a smooth fill."""


@dataclass
class Region:
    """A neighbourhood searched in stage 2; closed when it can no longer beat the incumbent."""

    number: int
    centre: int
    members: np.ndarray
    is_open: bool = True


def low_scores(raw: dict[str, np.ndarray], scored: np.ndarray) -> np.ndarray:
    """Mean percentile rank over the low-fidelity signals (proxies have no common scale)."""
    return np.mean([rank_scores(values, scored) for values in raw.values()], axis=0)


class LowFill:
    """The low score of every cell PMF ranks: measured where scored, elsewhere predicted from
    the encoding by a tree ensemble fitted (when first needed) on at most :data:`FILL_ROWS`
    scored cells; cells that join the pool later are predicted by the same model."""

    def __init__(self, score: np.ndarray, encoding: np.ndarray, seed: int) -> None:
        self.score, self.encoding, self.seed = score, encoding, seed
        self._model: EnsemblePredictor | None = None

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Predicted low scores of encoding ``rows``."""
        scored = np.flatnonzero(~np.isnan(self.score))
        if len(scored) < 2:
            return np.full(len(rows), 0.5)
        if self._model is None:
            rng = np.random.default_rng(self.seed)
            if len(scored) > FILL_ROWS:
                scored = rng.choice(scored, FILL_ROWS, replace=False)
            self._model = EnsemblePredictor(
                "extra_trees", members=16, min_points=2, max_features=1.0, seed=self.seed
            ).fit(self.encoding[scored], self.score[scored])
        return self._model.predict(rows)[0]

    def filled(self) -> np.ndarray:
        """Every cell's score, measured or predicted."""
        out = self.score.copy()
        missing = np.isnan(out)
        if missing.any():
            out[missing] = self.predict(self.encoding[missing])
        return out


def edge_distance(encoding: np.ndarray, cell: int) -> np.ndarray:
    """Edges on which every cell differs from ``cell`` (one-hot: half the differing entries)."""
    return (encoding != encoding[cell]).sum(axis=1) // 2


def find_regions(score: np.ndarray, encoding: np.ndarray, count: int, radius: int) -> list[Region]:
    """Greedy centres: the best-scored cell, then each next best cell at least ``2 × radius``
    edges from all centres so far (neighbourhoods that touch at most at their rims, so the
    regions are distinct areas); members are the cells within ``radius`` of a centre, each given
    to its nearest centre (the better-scored centre on ties)."""
    nearest = np.full(len(score), np.iinfo(np.int64).max)
    centres: list[int] = []
    for cell in np.argsort(-score, kind="stable"):
        if len(centres) == count:
            break
        if nearest[cell] >= max(2 * radius, 1):
            centres.append(int(cell))
            nearest = np.minimum(nearest, edge_distance(encoding, int(cell)))
    return regions_around(centres, encoding, radius)


def regions_around(centres: list[int], encoding: np.ndarray, radius: int) -> list[Region]:
    """The regions of ``centres`` (best first): the cells within ``radius`` edges of a centre,
    each given to its nearest centre (the better one on ties)."""
    table = np.stack([edge_distance(encoding, centre) for centre in centres])
    owner = table.argmin(axis=0)
    inside = table.min(axis=0) <= radius
    return [
        Region(k, centre, np.flatnonzero(inside & (owner == k))) for k, centre in enumerate(centres)
    ]
