"""An NB201 cell drawn as its DAG with matplotlib alone (no graphviz to install): four nodes in a
row, each edge an arc labelled with its operation; ``none`` edges, which carry nothing, dashed."""

from __future__ import annotations

from pathlib import Path

from pmfnas.report.figures import figure, save
from pmfnas.spaces.nb201 import EDGES, OPS
from pmfnas.types import Arch

LABELS = {
    "none": "none",
    "skip_connect": "skip",
    "nor_conv_1x1": "conv 1x1",
    "nor_conv_3x3": "conv 3x3",
    "avg_pool_3x3": "avg pool 3x3",
}
COLOURS = {
    "none": "#9e9e9e",
    "skip_connect": "#2b8cbe",
    "nor_conv_1x1": "#31a354",
    "nor_conv_3x3": "#d95f0e",
    "avg_pool_3x3": "#756bb1",
}
BEND = {1: 0.0, 2: -0.45, 3: 0.38}
"""Arc bend by how many nodes an edge spans: neighbours straight, longer edges above or below."""
NODE_X = (0.0, 2.0, 4.0, 6.0)


def plot_cell(arch: Arch, path: str | Path, title: str) -> None:
    """Draw ``arch`` (six op ids in NB201 edge order) as a PNG."""
    fig, ax = figure(7.5, 3.0)
    for (source, target), op in zip(EDGES, arch, strict=True):
        name = OPS[op]
        bend = BEND[target - source]
        (x1, x2), y = (NODE_X[source], NODE_X[target]), 0.0
        ax.annotate(
            "",
            xy=(x2, y),
            xytext=(x1, y),
            arrowprops={
                "arrowstyle": "-|>",
                "color": COLOURS[name],
                "linewidth": 1.2 if name == "none" else 2.2,
                "linestyle": "--" if name == "none" else "-",
                "shrinkA": 17,
                "shrinkB": 17,
                "mutation_scale": 14,
                "connectionstyle": f"arc3,rad={bend}",
            },
        )
        # Midpoint of matplotlib's arc3 Bézier: half the bend times the rotated chord.
        mid_x, mid_y = (x1 + x2) / 2, y - bend * (x2 - x1) / 2
        ax.text(
            mid_x,
            mid_y,
            LABELS[name],
            ha="center",
            va="center",
            fontsize=8,
            color=COLOURS[name],
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
        )
    for node, x in enumerate(NODE_X):
        ax.scatter([x], [0], s=900, color="white", edgecolor="black", zorder=3)
        text = {0: "in", 3: "out"}.get(node, str(node))
        ax.text(x, 0, text, ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(-0.6, 6.6)
    ax.set_ylim(-1.35, 1.15)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    save(fig, path)
