"""The figures of a study report that plot numbers: anytime accuracy, accuracy against network
size with its Pareto front, and predicted against measured accuracy.

Each is built as a matplotlib figure (so that tests can look at its axes) and written as PNG by
:func:`save`. Legends sit outside the axes, where they cover no data, and the axes leave room
around the outermost points, so that no marker is cut at an edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmfnas.report.reasons import PredictionPair
from pmfnas.types import Arch, Fidelity, Trial

if TYPE_CHECKING:
    from pmfnas.report.study_data import StudyData

EDGE = 0.02
"""Share of the cost axis left free on either side of a curve, so its end points stay whole."""


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, imported when a figure is drawn (the
    import takes a second, which commands that draw nothing should not pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(width: float, height: float, **grid: Any) -> tuple[Any, Any]:
    """A figure and its axes, laid out so that titles, labels and outside legends fit."""
    return pyplot().subplots(figsize=(width, height), layout="constrained", **grid)


def legend_outside(ax: Any) -> None:
    """The axes' legend to the right of it, where it covers no data."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def save(fig: Any, path: str | Path) -> None:
    """Write ``fig`` as PNG and free it (pyplot keeps every open figure alive)."""
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


def anytime_figure(data: StudyData) -> Any | None:
    """Best validation accuracy so far at each training fidelity (a one-shot search: the
    supernet's accuracy of each epoch's cell), and the test accuracy of the architecture the
    strategy would have returned, against cost. ``None``: nothing to plot."""
    end = data.trials[-1].clock
    curves: list[tuple[list[float], list[float], dict[str, Any]]] = []
    trained = {
        t.fidelity for t in data.trials if "val_acc" in t.metrics and not t.fidelity.is_supernet
    }
    for fidelity in sorted(trained):
        mine = [t for t in data.trials if t.fidelity == fidelity and "val_acc" in t.metrics]
        best = np.maximum.accumulate([t.val_acc for t in mine]).tolist()
        label = f"best validation accuracy, {fidelity}"
        curves.append(([t.clock for t in mine], best, {"label": label}))
    if derived := [t for t in data.trials if t.fidelity.is_supernet]:  # each epoch's own cell
        label = "supernet validation accuracy of each epoch's derived cell"
        curves.append(([t.clock for t in derived], [t.val_acc for t in derived], {"label": label}))
    returned = [
        (t.clock, data.test[r.number])
        for t, r in zip(data.trials, data.returned, strict=True)
        if r is not None and r.number in data.test
    ]
    if returned:
        clock, test = zip(*returned, strict=True)
        style = {
            "color": "black",
            "linewidth": 1.8,
            "label": "test accuracy of the returned architecture",
        }
        curves.append((list(clock), list(test), style))
    if not curves:
        return None
    fig, ax = figure(8.5, 4.2)
    for clock, values, style in curves:
        _step_line(ax, clock, values, end, **style)
    ax.set_xlim(-EDGE * end, (1 + EDGE) * end)
    ax.set_xlabel(data.cost_label)
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    legend_outside(ax)
    ax.set_title(data.title, fontsize=10)
    return fig


def architecture_points(data: StudyData) -> tuple[list[tuple[Arch, Fidelity, float]], str]:
    """(architecture, highest fidelity reached, accuracy) per evaluated architecture, and what
    the accuracy is: the test accuracy where known, else the validation accuracy at that
    fidelity; each from the first trial there that has it (a repeat served from an earlier
    trial may not carry its test accuracy)."""
    reached: dict[Arch, Fidelity] = {}
    for t in data.trials:
        reached[t.arch] = max(reached.get(t.arch, t.fidelity), t.fidelity)
    top = [t for t in data.trials if t.fidelity == reached[t.arch]]

    def first(value: Callable[[Trial], float | None]) -> list[tuple[Arch, Fidelity, float]]:
        found: dict[Arch, float] = {}
        for t in top:
            if (v := value(t)) is not None:
                found.setdefault(t.arch, v)
        return [(a, reached[a], v) for a, v in found.items()]

    if tested := first(lambda t: data.test.get(t.number)):
        return tested, "test accuracy (%)"
    valid = first(lambda t: t.metrics.get("val_acc"))
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


def pareto_figure(data: StudyData) -> Any | None:
    """Accuracy against params and against FLOPs, with the Pareto fronts. ``None``: no points,
    or no sizes.

    A space of one's own has its networks built and counted here (by ``data.sizes``), which
    may raise whatever its code raises."""
    points, label = architecture_points(data)
    if not points or data.sizes is None:
        return None
    sizes = np.array([data.sizes.of(arch) for arch, _, _ in points])
    accuracy = np.array([acc for _, _, acc in points])
    fidelities = np.array([str(f) for _, f, _ in points])
    best = next(
        (i for i, (arch, _, _) in enumerate(points) if data.best and arch == data.best.arch), None
    )
    fig, axes = figure(11, 4.2, ncols=2, sharey=True)
    for ax, size, name in (
        (axes[0], sizes[:, 0], "params (M)"),
        (axes[1], sizes[:, 1], "FLOPs (M)"),
    ):
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
        if best is not None:
            ax.scatter(
                [size[best]],
                [accuracy[best]],
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
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside right upper")
    fig.suptitle(f"{data.title} — sizes of {data.sizes.note}", fontsize=9)
    return fig


def predictions_figure(pairs: Sequence[PredictionPair]) -> Any:
    """Predicted (± 1 std) against measured validation accuracy, one series per predictor and
    fidelity predicted, each with its Spearman rank correlation."""
    from scipy.stats import spearmanr

    fig, ax = figure(9.5, 5.0)
    for source, fidelity in dict.fromkeys((p.prediction.source, p.fidelity) for p in pairs):
        mine = [p for p in pairs if (p.prediction.source, p.fidelity) == (source, fidelity)]
        mean = np.array([p.prediction.mean for p in mine])
        true = np.array([p.measured for p in mine])
        label = f"{source}, {fidelity} (n={len(mine)}"
        if len(mine) >= 3 and np.ptp(mean) > 0 and np.ptp(true) > 0:
            label += f", Spearman {spearmanr(mean, true).statistic:.2f}"
        ax.errorbar(
            true,
            mean,
            yerr=[p.prediction.std for p in mine],
            fmt="o",
            markersize=4,
            alpha=0.7,
            elinewidth=0.8,
            label=label + ")",
        )
    values = [v for p in pairs for v in (p.prediction.mean, p.measured)]
    low, high = min(values), max(values)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="y = x")
    ax.set_xlabel("measured validation accuracy (%)")
    ax.set_ylabel("predicted validation accuracy (%)")
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return fig
