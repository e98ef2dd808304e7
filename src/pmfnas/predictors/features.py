"""Features for the predictors: low-fidelity ranks and the evidence of an early (medium) training.

Everything here is what a strategy may see: proxy scores, the medium fidelity's validation
accuracy and cost, and where the evaluator records them the other final metrics and the
learning curve (real training). The architecture encoding comes from the search space.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from scipy.stats import rankdata

from pmfnas.types import Trial

MEDIUM_METRICS = ("val_loss", "train_acc", "train_loss")
"""Final metrics of a training fidelity used as features where the evaluator reports them."""


def rank_scores(values: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Percentile rank in [0, 1] (1 = best) of each scored entry among the scored ones.

    Unscored entries stay NaN. A scored entry that is not finite (a proxy that overflowed or
    failed on a degenerate cell) ranks lowest: a failing proxy says nothing good of a cell.
    """
    out = np.full(len(values), np.nan)
    if not scored.any():
        return out
    picked = np.where(np.isfinite(values[scored]), values[scored], -np.inf)
    ranks = rankdata(picked, method="average")
    out[scored] = (ranks - 1) / max(len(ranks) - 1, 1)
    return out


def curve_features(curve: Sequence[dict[str, float]]) -> dict[str, float]:
    """The learning curve's summary: is validation accuracy still rising (slope of its last half
    per epoch), and its best value; empty without at least two epochs of validation accuracy."""
    accs = [row["valid_acc"] for row in curve if "valid_acc" in row]
    if len(accs) < 2:
        return {}
    tail = accs[len(accs) // 2 :] if len(accs) >= 4 else accs
    slope = float(np.polyfit(np.arange(len(tail)), tail, 1)[0])
    return {"curve_slope": slope, "curve_best": float(max(accs))}


def medium_features(trial: Trial) -> dict[str, float]:
    """A medium-fidelity trial as features: accuracy, log cost (a capacity signal: bigger networks
    train longer and gain more from a full schedule), the other metrics and the curve summary."""
    out = {
        "medium_acc": trial.val_acc,
        "medium_log_cost": math.log(max(trial.cost, 1e-9)),
    }
    out |= {f"medium_{k}": trial.metrics[k] for k in MEDIUM_METRICS if k in trial.metrics}
    return out | curve_features(trial.curve)


class FeatureRows:
    """Named evidence per key (an architecture's index), assembled into matrices on demand."""

    def __init__(self) -> None:
        self._rows: dict[Hashable, dict[str, float]] = {}

    def add(self, key: Hashable, values: dict[str, float]) -> None:
        self._rows.setdefault(key, {}).update(values)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._rows

    def get(self, key: Hashable) -> dict[str, float]:
        return self._rows.get(key, {})

    def common_columns(self, keys: Iterable[Hashable]) -> list[str]:
        """Column names that every one of ``keys`` has with a finite value, sorted."""
        common: set[str] | None = None
        for key in keys:
            row = self._rows.get(key, {})
            names = {k for k, v in row.items() if math.isfinite(v)}
            common = names if common is None else common & names
        return sorted(common or ())

    def matrix(self, keys: Sequence[Hashable], columns: Sequence[str]) -> np.ndarray:
        """Rows of ``keys`` × ``columns``; NaN where a key lacks a column."""
        out = np.full((len(keys), len(columns)), np.nan)
        for i, key in enumerate(keys):
            row = self._rows.get(key, {})
            for j, name in enumerate(columns):
                out[i, j] = row.get(name, np.nan)
        return out


def evidence_columns(rows: FeatureRows, keys: Iterable[Hashable]) -> list[str]:
    """The evidence columns every key has, the medium accuracy first (a predictor's base)."""
    names = rows.common_columns(keys)
    return ["medium_acc", *(n for n in names if n != "medium_acc")]
