"""The fidelity funnel of a search: how many candidates each fidelity saw, why they got there, and
how many went on to a higher fidelity (the rest were stopped there)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pmfnas.report.figures import figure, pyplot
from pmfnas.report.reasons import category, notes
from pmfnas.types import Arch, Fidelity, Trial


@dataclass(frozen=True)
class FunnelLevel:
    """One fidelity of the funnel.

    ``categories`` counts candidates by why their first trial at this fidelity ran (its
    ``origin``, :func:`~pmfnas.report.reasons.category`);
    ``promoted`` counts those also evaluated at a higher fidelity (at any time of the search).
    """

    fidelity: Fidelity
    trials: int
    candidates: int
    promoted: int
    categories: dict[str, int]

    @property
    def stopped(self) -> int:
        return self.candidates - self.promoted


def funnel(trials: Sequence[Trial]) -> list[FunnelLevel]:
    """The funnel levels, cheapest fidelity first."""
    reached: dict[Arch, Fidelity] = {}
    for t in trials:
        reached[t.arch] = max(reached.get(t.arch, t.fidelity), t.fidelity)
    levels = []
    for fidelity in sorted({t.fidelity for t in trials}):
        first: dict[Arch, Trial] = {}
        for t in trials:
            if t.fidelity == fidelity:
                first.setdefault(t.arch, t)
        levels.append(
            FunnelLevel(
                fidelity=fidelity,
                trials=sum(t.fidelity == fidelity for t in trials),
                candidates=len(first),
                promoted=sum(reached[a] > fidelity for a in first),
                categories=dict(Counter(category(t) for t in first.values())),
            )
        )
    return levels


def decisions(trials: Sequence[Trial]) -> list[tuple[int, str]]:
    """(trial number, decision) of every decision noted with the trials, such as stopped regions."""
    return [(t.number, note) for t in trials for note in notes(t)]


def funnel_figure(levels: Sequence[FunnelLevel], title: str) -> Any:
    """Candidates and promotions per fidelity (left) and why the candidates came (right), with
    one legend for both to their right."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    names = [
        f"{lv.fidelity}\n{lv.candidates} → {lv.promoted} promoted"
        if i < len(levels) - 1
        else f"{lv.fidelity}\n{lv.candidates}"
        for i, lv in enumerate(levels)
    ]
    kinds = list(dict.fromkeys(k for level in levels for k in level.categories))
    entries = 2 + len(kinds)
    fig, (left, right) = figure(
        11,
        max(1.2 + 0.7 * len(levels), 0.8 + 0.2 * entries),  # room for every legend entry
        ncols=2,
        sharey=True,
        gridspec_kw={"width_ratios": [3, 2]},
    )
    y = range(len(levels))
    left.barh(y, [lv.candidates for lv in levels], color="#9ecae1", label="candidates")
    left.barh(y, [lv.promoted for lv in levels], color="#08519c", label="promoted onwards")
    if max(lv.candidates for lv in levels) > 20 * min(lv.candidates for lv in levels):
        left.set_xscale("log")
    else:
        left.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 architectures
    left.set_yticks(list(y), names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("distinct architectures")
    colours = plt.get_cmap("tab10")
    start = [0.0] * len(levels)
    for k, kind in enumerate(kinds):
        share = [100 * lv.categories.get(kind, 0) / lv.candidates for lv in levels]
        right.barh(y, share, left=start, color=colours(k % 10), label=kind)
        start = [a + b for a, b in zip(start, share, strict=True)]
    right.set_xlim(0, 100)
    right.set_xlabel("why they were evaluated (% of candidates)")
    fig.legend(fontsize=7, loc="outside right upper")
    fig.suptitle(title, fontsize=10)
    return fig
