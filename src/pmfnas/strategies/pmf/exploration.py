"""Stage 1 of PMF: score a large sample at low fidelity and find the promising regions.

A region is a neighbourhood in the encoding (the cells within ``radius`` edge changes of a
centre) around a cell that scores well, so stage 2 searches around several good areas instead of
a top-k list that may all sit in one. Cells the low fidelity did not reach get a score predicted
from their encoding, so the whole space is ranked even when only part of it was scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pmfnas.predictors import EnsemblePredictor, rank_scores
from pmfnas.spaces.base import EnumerableSpace

FILL_ROWS = 3000
"""Scored cells (at most) the encoding → low score model is fitted on: enough for a smooth fill."""


_ENCODINGS: dict[tuple[str, int], np.ndarray] = {}


def space_encoding(space: EnumerableSpace) -> np.ndarray:
    """Encoding of every cell in index order, made once per process and space (0.3 s on NB201)."""
    key = (space.name, space.size)
    if key not in _ENCODINGS:
        _ENCODINGS[key] = np.stack([space.encode(space.arch(i)) for i in range(space.size)])
    return _ENCODINGS[key]


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


def fill_unscored(score: np.ndarray, encoding: np.ndarray, seed: int) -> np.ndarray:
    """Measured scores where present; elsewhere a tree ensemble's prediction from the encoding."""
    scored = np.flatnonzero(~np.isnan(score))
    if len(scored) == len(score):
        return score
    out = score.copy()
    if len(scored) < 2:
        out[np.isnan(score)] = 0.5
        return out
    rng = np.random.default_rng(seed)
    rows = rng.choice(scored, FILL_ROWS, replace=False) if len(scored) > FILL_ROWS else scored
    model = EnsemblePredictor("extra_trees", members=16, min_points=2, max_features=1.0, seed=seed)
    model.fit(encoding[rows], score[rows])
    missing = np.isnan(score)
    out[missing] = model.predict(encoding[missing])[0]
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
    distances = []
    for cell in np.argsort(-score, kind="stable"):
        if len(centres) == count:
            break
        if nearest[cell] >= max(2 * radius, 1):
            d = edge_distance(encoding, int(cell))
            centres.append(int(cell))
            distances.append(d)
            nearest = np.minimum(nearest, d)
    table = np.stack(distances)
    owner = table.argmin(axis=0)
    inside = table.min(axis=0) <= radius
    return [
        Region(k, centre, np.flatnonzero(inside & (owner == k))) for k, centre in enumerate(centres)
    ]
