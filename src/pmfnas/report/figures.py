"""The figures of a study report that plot numbers: anytime accuracy, accuracy against network
size with its Pareto front, and predicted against true accuracy. Each writes a PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmfnas.report.reasons import Prediction
from pmfnas.spaces import require_enumerable
from pmfnas.types import Arch, Fidelity, Trial

if TYPE_CHECKING:
    from pmfnas.report.study_data import StudyData


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, imported when a figure is drawn (the
    import takes a second, which commands that draw nothing should not pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path) -> None:
    """Write ``fig`` as PNG and free it (pyplot keeps every open figure alive)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def _step_line(
    ax: Any, clock: Sequence[float], values: Sequence[float], end: float, **style: Any
) -> None:
    """A running value as a step line held to ``end``, marked where it changes (so a single
    point still shows)."""
    keep = [i for i in range(len(values)) if i == 0 or values[i] != values[i - 1]]
    xs, ys = [clock[i] for i in keep], [values[i] for i in keep]
    ax.plot(
        [*xs, end],
        [*ys, ys[-1]],
        drawstyle="steps-post",
        marker="o",
        markersize=3,
        markevery=list(range(len(xs))),
        **style,
    )


def plot_study_anytime(data: StudyData, path: str | Path) -> bool:
    """Best validation accuracy so far at each training fidelity, and the test accuracy of the
    architecture the strategy would have returned, against cost. ``False``: nothing to plot."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn, end = False, data.trials[-1].clock
    for fidelity in sorted({t.fidelity for t in data.trials if "val_acc" in t.metrics}):
        mine = [t for t in data.trials if t.fidelity == fidelity]
        best = np.maximum.accumulate([t.val_acc for t in mine]).tolist()
        label = f"best validation accuracy, {fidelity}"
        _step_line(ax, [t.clock for t in mine], best, end, label=label)
        drawn = True
    returned = [
        (t.clock, data.test[r.number])
        for t, r in zip(data.trials, data.returned, strict=True)
        if r is not None and r.number in data.test
    ]
    if returned:
        clock, test = zip(*returned, strict=True)
        label = "test accuracy of the returned architecture"
        _step_line(ax, clock, test, end, color="black", linewidth=1.8, label=label)
        drawn = True
    if drawn:
        ax.set_xlim(0, end * 1.02)  # a point at the very end stays whole
        ax.set_xlabel(data.cost_label)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(data.title, fontsize=10)
        save(fig, path)
    else:
        plt.close(fig)
    return drawn


def architecture_points(data: StudyData) -> tuple[list[tuple[Arch, Fidelity, float]], str]:
    """(cell, highest fidelity reached, accuracy) per evaluated cell, and what the accuracy is:
    the test accuracy where known, else the validation accuracy at that fidelity."""
    top: dict[Arch, Trial] = {}
    for t in data.trials:
        if t.arch not in top or t.fidelity >= top[t.arch].fidelity:
            top[t.arch] = t
    tested = [(a, t.fidelity, data.test[t.number]) for a, t in top.items() if t.number in data.test]
    if tested:
        return tested, "test accuracy (%)"
    valid = [(a, t.fidelity, t.val_acc) for a, t in top.items() if "val_acc" in t.metrics]
    return valid, "validation accuracy at the highest fidelity reached (%)"


def pareto_front(size: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both counts (smaller and more accurate),
    by increasing size."""
    order = sorted(range(len(size)), key=lambda i: (size[i], -accuracy[i]))
    front: list[int] = []
    for i in order:
        if not front or accuracy[i] > accuracy[front[-1]]:
            front.append(i)
    return front


def plot_pareto(data: StudyData, path: str | Path) -> bool:
    """Accuracy against params and against FLOPs, with the Pareto fronts. ``False``: no points."""
    points, label = architecture_points(data)
    if not points:
        return False
    plt = pyplot()
    space = require_enumerable(data.space, "the size figure")
    index = np.array([space.index(a) for a, _, _ in points])
    accuracy = np.array([acc for _, _, acc in points])
    fidelities = np.array([str(f) for _, f, _ in points])
    best = space.index(data.best.arch) if data.best else None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, sizes, name in (
        (axes[0], data.params, "params (M)"),
        (axes[1], data.flops, "FLOPs (M)"),
    ):
        size = sizes[index]
        for fidelity in sorted({f for _, f, _ in points}):
            mine = fidelities == str(fidelity)
            ax.scatter(size[mine], accuracy[mine], s=12, alpha=0.6, label=f"reached {fidelity}")
        front = pareto_front(size.tolist(), accuracy.tolist())
        ax.plot(
            size[front],
            accuracy[front],
            drawstyle="steps-post",
            color="crimson",
            marker="o",
            markersize=4,
            label="Pareto front",
        )
        if best is not None and best in index:
            i = int(np.flatnonzero(index == best)[0])
            ax.scatter(
                [size[i]],
                [accuracy[i]],
                marker="*",
                s=220,
                color="gold",
                edgecolor="black",
                zorder=5,
                label="returned",
            )
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(label)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{data.title} — sizes of {data.size_note}", fontsize=9)
    save(fig, path)
    return True


def plot_predictions(pairs: Sequence[tuple[Prediction, float]], path: str | Path) -> None:
    """Predicted (± 1 std) against measured validation accuracy, per kind of prediction."""
    from scipy.stats import spearmanr

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    for source in dict.fromkeys(p.source for p, _ in pairs):
        mine = [(p, true) for p, true in pairs if p.source == source]
        mean = np.array([p.mean for p, _ in mine])
        true = np.array([v for _, v in mine])
        label = f"{source} (n={len(mine)}"
        if len(mine) >= 3 and np.ptp(mean) > 0 and np.ptp(true) > 0:
            label += f", Spearman {spearmanr(mean, true).statistic:.2f}"
        ax.errorbar(
            true,
            mean,
            yerr=[p.std for p, _ in mine],
            fmt="o",
            markersize=4,
            alpha=0.7,
            elinewidth=0.8,
            label=label + ")",
        )
    values = [v for p, true in pairs for v in (p.mean, true)]
    low, high = min(values), max(values)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="y = x")
    ax.set_xlabel("measured validation accuracy (%)")
    ax.set_ylabel("predicted validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    save(fig, path)
