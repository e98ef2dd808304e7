"""How well a zero-cost proxy ranks architectures: rank correlations, top-k hits, cost, a scatter plot."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ProxyQuality:
    """Agreement of one proxy's scores with the true accuracies of the same architectures.

    ``top_hit_rate``: of the ``top`` share (10 %) of architectures ranked best by the proxy, the
    share that is also among the ``top`` share by true accuracy (1.0 = perfect, ``top`` = chance).
    """

    proxy: str
    n: int
    spearman: float
    kendall: float
    top_hit_rate: float
    median_seconds: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def proxy_quality(
    proxy: str,
    scores: np.ndarray,
    accuracies: np.ndarray,
    seconds: np.ndarray,
    *,
    top: float = 0.1,
) -> ProxyQuality:
    """Spearman ρ, Kendall τ and top-share hit rate of ``scores`` against ``accuracies``."""
    scores, accuracies = np.asarray(scores, float), np.asarray(accuracies, float)
    if scores.shape != accuracies.shape or scores.ndim != 1 or len(scores) < 2:
        raise ValueError("scores and accuracies must be two equally long 1-D arrays (n >= 2)")
    k = max(1, math.ceil(top * len(scores)))
    by_proxy = set(np.argsort(-scores, kind="stable")[:k].tolist())
    by_truth = set(np.argsort(-accuracies, kind="stable")[:k].tolist())
    return ProxyQuality(
        proxy=proxy,
        n=len(scores),
        spearman=float(stats.spearmanr(scores, accuracies).statistic),
        kendall=float(stats.kendalltau(scores, accuracies).statistic),
        top_hit_rate=len(by_proxy & by_truth) / k,
        median_seconds=float(np.median(seconds)),
    )


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
