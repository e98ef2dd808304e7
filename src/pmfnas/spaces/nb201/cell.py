"""NAS-Bench-201 cells as values: their operations, edges, canonical text and validity.

A cell is a tuple of six operation ids in the canonical edge order of the architecture string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: edges (0→1), (0→2), (1→2), (0→3), (1→3), (2→3).
"""

from __future__ import annotations

import re

import numpy as np

from pmfnas.errors import ArchitectureError
from pmfnas.types import Arch

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Operation names; a cell stores each edge's op as its position in this tuple."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source node, target node) of each cell position, in architecture-string order."""

NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES

_TOKEN = re.compile(r"([a-z0-9_]+)~(\d)")


def parse(text: str) -> Arch:
    """Read a canonical NB201 string; anything that is not exactly that form is an error."""
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise ArchitectureError(f"malformed NB201 string {text!r}: expected 3 nodes joined by '+'")
    ops: list[int] = []
    for target, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise ArchitectureError(f"malformed NB201 string {text!r}: node {node!r} not in |...|")
        tokens = node[1:-1].split("|")
        if len(tokens) != target:
            raise ArchitectureError(
                f"malformed NB201 string {text!r}: node {target} needs {target} inputs"
            )
        for source, token in enumerate(tokens):
            m = _TOKEN.fullmatch(token)
            if not m or int(m.group(2)) != source:
                raise ArchitectureError(
                    f"malformed NB201 string {text!r}: expected 'op~{source}', got {token!r}"
                )
            if m.group(1) not in OPS:
                raise ArchitectureError(f"unknown NB201 operation {m.group(1)!r} in {text!r}")
            ops.append(OPS.index(m.group(1)))
    return tuple(ops)


def format_cell(cell: Arch) -> str:
    """Write the canonical NB201 string of a cell."""
    check(cell)
    it = iter(cell)
    nodes = ["|" + "|".join(f"{OPS[next(it)]}~{s}" for s in range(t)) + "|" for t in (1, 2, 3)]
    return "+".join(nodes)


def check(cell: Arch) -> Arch:
    """Return ``cell`` if it is six valid op ids, else raise :class:`ArchitectureError`."""
    if (
        not isinstance(cell, tuple)
        or len(cell) != NUM_EDGES
        or not all(isinstance(op, int | np.integer) and 0 <= op < len(OPS) for op in cell)
    ):
        raise ArchitectureError(f"not an NB201 cell: {cell!r}")
    return cell
