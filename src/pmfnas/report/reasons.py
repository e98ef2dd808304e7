"""What the reason stored with each trial says: why it ran (a few categories), the decisions noted
with it, and what the strategy predicted for it.

Strategies write free text (``"mutation of trial 5"``, ``"bracket 0: promoted, rank 1 of 9 at
epochs=12"``, PMF's ``"stage 3 promotion (...): predicted 91.52 ± 1.26, ..."``); a report only
needs their leading words, so new wordings fall back to their first word instead of breaking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmfnas.types import Trial

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("initial population", "sampled"),
    ("random sample", "sampled"),
    ("new at rung", "sampled"),
    ("stage 1", "sampled"),
    ("mutation", "mutation"),
    ("crossover", "crossover"),
    ("promoted", "promoted"),
    ("stage 3 promotion", "promoted"),
    ("stage 2", "regional search"),
    ("stage 3 refinement", "refinement"),
)
"""(leading words, category), first match wins; matched after a ``bracket N:``/``step N:`` prefix."""

_COUNTER = re.compile(r"^(?:bracket|step) \d+:\s*")
_NUM = r"-?\d+(?:\.\d+)?"
_PREDICTED = re.compile(rf"predicted ({_NUM}) ± ({_NUM})")
_UCB = re.compile(rf"UCB\S*\s+{_NUM}\s+\(({_NUM}) ± ({_NUM})\)")


def category(reason: str) -> str:
    """The category of a reason (see :data:`CATEGORIES`); else its first word."""
    head = _COUNTER.sub("", reason.split(";")[0].strip())
    for prefix, label in CATEGORIES:
        if head.startswith(prefix):
            return label
    return head.split(" ")[0].rstrip(":,") or "unstated"


def notes(reason: str) -> list[str]:
    """Decisions appended to a reason after ``;`` (PMF: regions stopped, candidates left out)."""
    return [part.strip() for part in reason.split(";")[1:] if part.strip()]


@dataclass(frozen=True)
class Prediction:
    """What the strategy expected of a trial's validation accuracy before running it."""

    source: str
    mean: float
    std: float


def prediction(trial: Trial) -> Prediction | None:
    """A prediction stored in the trial's info (``predicted``, ``predicted_std``), else one
    written in its reason (PMF's promotion predictor or its medium-fidelity surrogate)."""
    if "predicted" in trial.info:
        std = float(trial.info.get("predicted_std", 0.0))
        return Prediction("stored prediction", float(trial.info["predicted"]), std)
    if m := _PREDICTED.search(trial.reason):
        return Prediction("promotion predictor", float(m.group(1)), float(m.group(2)))
    if m := _UCB.search(trial.reason):
        return Prediction("surrogate (UCB picks)", float(m.group(1)), float(m.group(2)))
    return None
