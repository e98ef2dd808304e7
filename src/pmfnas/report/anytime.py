"""Anytime plot of a bench: how good the returned architecture is after each amount of budget."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pmfnas.runs.records import BenchResult

ZOOM_FROM = 0.1
"""The y axis fits the curves from this fraction of the budget on: earlier picks are near-random
and would squeeze the differences that matter into a thin band."""


def plot_anytime(result: BenchResult, path: str | Path) -> None:
    """Mean ± 1 std over seeds of the anytime architecture's final accuracy against cost, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    shown = [np.array([np.nan if result.space_best is None else result.space_best])]
    for name in result.strategies:
        cost, mean, std = result.curve(name)
        band = np.nan_to_num(std)
        (line,) = ax.plot(
            cost, mean, drawstyle="steps-post", label=f"{name} ({len(result.of(name))} seeds)"
        )
        ax.fill_between(
            cost, mean - band, mean + band, step="post", color=line.get_color(), alpha=0.2
        )
        later = cost >= ZOOM_FROM * result.budget
        shown += [(mean - band)[later], (mean + band)[later]]
    if result.space_best is not None:
        ax.axhline(
            result.space_best, color="grey", linestyle="--", linewidth=1, label="best in space"
        )
    values = np.concatenate(shown)
    low, high = np.min(values[np.isfinite(values)]), np.max(values[np.isfinite(values)])
    margin = 0.05 * (high - low) or 0.5
    ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(0, result.budget)
    ax.set_xlabel("simulated cost (s)")
    ax.set_ylabel(f"{result.final_note.split(' (')[0]} (%)")
    ax.set_title(f"{result.benchmark} {result.dataset}, budget {result.budget:g} s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
