"""What a strategy said about each trial, read from the trial's info (``Request.info``): why it
ran, the decisions taken with it, and what the strategy predicted for it.

Strategies also write a ``reason`` for people (``"bracket 0: promoted, rank 1 of 9 at
epochs=12"``); a report reads the data beside it, never the wording, so a new wording breaks
nothing. A trial stored without such info (by a strategy that gives none, or before strategies
gave it) is ``unstated``, with no decisions and no prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pmfnas.types import Arch, Fidelity, Trial

UNSTATED = "unstated"
"""The category of a trial whose strategy said nothing about why it ran."""


def category(trial: Trial) -> str:
    """Why the trial ran: its ``origin`` (one of :data:`pmfnas.types.ORIGINS` for the
    strategies shipped), else :data:`UNSTATED`."""
    return str(trial.info.get("origin") or UNSTATED)


def notes(trial: Trial) -> list[str]:
    """Decisions the strategy took with the trial's request (PMF: regions stopped, candidates
    left unpromoted)."""
    return [str(note) for note in trial.info.get("decisions", [])]


@dataclass(frozen=True)
class Prediction:
    """What the strategy expected of a trial's validation accuracy before running it."""

    source: str
    mean: float
    std: float


def prediction(trial: Trial) -> Prediction | None:
    """The prediction stored in the trial's info (``predicted``, ``predicted_std``, and who
    made it, ``predicted_by``), if any."""
    if "predicted" not in trial.info:
        return None
    source = str(trial.info.get("predicted_by", "stored prediction"))
    std = float(trial.info.get("predicted_std", 0.0))
    return Prediction(source, float(trial.info["predicted"]), std)


@dataclass(frozen=True)
class PredictionPair:
    """A prediction and the validation accuracy measured at the fidelity it predicts."""

    prediction: Prediction
    fidelity: Fidelity
    measured: float


def prediction_pairs(trials: Sequence[Trial]) -> tuple[list[PredictionPair], list[Trial]]:
    """Each prediction stored with a trial against what that trial measured: like with like, as
    a prediction is of the fidelity its trial ran at.

    Second, the trials whose stored "prediction" is the architecture's own measurement at a
    lower fidelity, carried over unchanged: a stand-in, not a prediction of the trial's fidelity
    (PMF ranks its first promotions by their medium accuracy, before any high-fidelity result
    exists to learn from). Plotted, it would set a 12-epoch accuracy against a 200-epoch one.
    """
    lower: dict[Arch, list[tuple[Fidelity, float]]] = {}
    pairs: list[PredictionPair] = []
    stand_ins: list[Trial] = []
    for t in trials:
        if "val_acc" not in t.metrics:
            continue
        if (p := prediction(t)) is not None:
            if any(f < t.fidelity and acc == p.mean for f, acc in lower.get(t.arch, [])):
                stand_ins.append(t)
            else:
                pairs.append(PredictionPair(p, t.fidelity, t.val_acc))
        lower.setdefault(t.arch, []).append((t.fidelity, t.val_acc))
    return pairs, stand_ins
