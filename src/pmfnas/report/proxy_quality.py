"""How well a zero-cost proxy ranks architectures, drawn: one score-against-accuracy panel per proxy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats


def scatter_plot(
    path: str | Path, scores: dict[str, np.ndarray], accuracies: np.ndarray, accuracy_label: str
) -> None:
    """One score-vs-accuracy panel per proxy, with its Spearman ρ in the title, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(scores)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        rho = stats.spearmanr(scores[name], accuracies).statistic
        ax.scatter(scores[name], accuracies, s=6, alpha=0.6)
        ax.set_title(f"{name}  (ρ = {rho:.2f})", fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.set_ylabel(accuracy_label, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
