"""Adaptive allocation in PMF: when to promote to high fidelity, whom, and what to stop.

No stage has a fixed share. The high-fidelity work still worth doing is the *reserve*: the cost
of the contenders the predictor cannot tell apart from its favourite. Medium-fidelity search
goes on while it leaves that reserve affordable and keeps finding better cells; a candidate is
promoted when the reserve is reached or medium search has stalled, and only while it has a real
chance (``p_min``) of beating the best high-fidelity result. Every decision says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class Promotion:
    """Evaluate ``cell`` at high fidelity: why now (``trigger``), what the predictor expects of
    it (``mean`` ± ``std``) and its chance of beating the best high-fidelity result; ``dropped``
    candidates confidently below the best stay unpromoted."""

    cell: int
    trigger: str
    mean: float
    std: float
    chance: float
    dropped: int = 0

    def decisions(self) -> list[str]:
        """What the promotion decided besides itself."""
        return (
            [f"{self.dropped} confidently below the best stay unpromoted"] if self.dropped else []
        )

    @property
    def reason(self) -> str:
        """The promotion in words (stored with the trial)."""
        text = (
            f"stage 3 promotion ({self.trigger}): predicted {self.mean:.2f} ± {self.std:.2f}, "
            f"P(beats best) {self.chance:.2f}"
        )
        return "; ".join([text, *self.decisions()])

    @property
    def info(self) -> dict[str, Any]:
        """The promotion as data (stored in the trial's info, read by reports)."""
        info: dict[str, Any] = {
            "origin": "promoted",
            "trigger": self.trigger,
            "predicted": self.mean,
            "predicted_std": self.std,
            "predicted_by": "promotion predictor",
            "chance": self.chance,
        }
        return info | ({"decisions": self.decisions()} if self.dropped else {})


def cost_ratio(pairs: list[tuple[float, float]], prior: float) -> float:
    """High-to-medium cost of one architecture: the median of observed (medium, high) pairs,
    else ``prior`` (from the two schedules' epochs and data fractions)."""
    ratios = [high / medium for medium, high in pairs if medium > 0]
    return float(median(ratios)) if ratios else prior


def potential(mu: np.ndarray, sigma: np.ndarray, incumbent: float | None) -> np.ndarray:
    """P(high-fidelity accuracy > incumbent) for each candidate; 1 with no incumbent yet."""
    if incumbent is None:
        return np.ones(len(mu))
    return norm.cdf((mu - incumbent) / np.maximum(sigma, 1e-9))


def plan_promotion(
    cells: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    cost: np.ndarray,
    *,
    incumbent: float | None,
    left: float,
    medium_cost: float,
    stalled: int | None,
    spent: tuple[float, float],
    kappa: float,
    p_min: float,
    cap: float,
) -> Promotion | None:
    """The promotion to make now, or ``None`` to keep searching at medium fidelity.

    ``cells`` are the medium-evaluated candidates with the high predictor's ``mu``/``sigma``
    and their estimated high-fidelity ``cost``; ``medium_cost`` is what one more medium
    evaluation is expected to cost; ``stalled`` is the number of medium evaluations since the
    best medium result last improved, when that has reached the patience (else ``None``);
    ``spent`` is what medium and high fidelity have cost so far. A stall alone promotes only
    while high fidelity would not outspend medium fidelity (a rung costs at most what the rung
    below it did): a search stuck early on a poor cell must not sink a full training into it.
    """
    if len(cells) == 0:
        return None
    p = potential(mu, sigma, incumbent)
    ucb = mu + kappa * sigma
    fits = cost <= left + 1e-9
    medium_fits = medium_cost <= left + 1e-9
    alive = np.flatnonzero(fits & (p >= p_min))
    if len(alive) == 0:
        last = np.flatnonzero(fits & (p > 1e-3))
        if len(last) == 0:
            return None
        top = int(last[np.argmax(ucb[last])])
        if not medium_fits:  # nothing cheaper is left to learn from
            return _promote(cells, top, mu, sigma, p, "end of budget")
        if stalled is not None and spent[1] + cost[top] <= spent[0]:
            # Medium search finds nothing better and no contender is left: a long shot at high
            # fidelity teaches more than further medium results that will never be promoted.
            trigger = f"medium search stalled for {stalled} evaluations, no contender left"
            return _promote(cells, top, mu, sigma, p, trigger)
        return None
    order = alive[np.argsort(-ucb[alive], kind="stable")]
    top = int(order[0])
    rivals = norm.cdf((mu[order] - mu[top]) / np.hypot(sigma[order], sigma[top])) >= p_min
    reserve = min(float(cost[order][rivals].sum()), cap)
    if not medium_fits:
        trigger = "medium fidelity no longer fits"
    elif left - medium_cost < reserve:
        trigger = (
            f"reserve: {int(rivals.sum())} contender(s) need {reserve:.0f} s of {left:.0f} s left"
        )
    elif stalled is not None and spent[1] + cost[top] <= spent[0]:
        trigger = f"medium search stalled for {stalled} evaluations"
    else:
        return None
    return _promote(cells, top, mu, sigma, p, trigger, dropped=len(cells) - len(alive))


def _promote(
    cells: np.ndarray,
    i: int,
    mu: np.ndarray,
    sigma: np.ndarray,
    p: np.ndarray,
    trigger: str,
    dropped: int = 0,
) -> Promotion:
    return Promotion(
        int(cells[i]), trigger, float(mu[i]), float(sigma[i]), float(p[i]), dropped=dropped
    )
