"""DARTS genotypes as values: their operations, layout, canonical text and validity.

A DARTS cell (Liu et al., ICLR 2019) has two input nodes (0: the cell before the previous one,
1: the previous cell) and four intermediate nodes 2..5; node *i* sums two operations, each on a
different earlier node, and the cell's output concatenates nodes 2..5. A genotype is a normal and
a reduction cell. As an :data:`~pmfnas.types.Arch` it is 32 ints: for the normal cell, then the
reduction cell, for nodes 2..5, ``(input, op, input, op)``, the two inputs in increasing order
(the sum does not depend on their order, so each genotype has exactly one tuple). ``op`` is a
position in :data:`OPS`.

The text is DARTS' own ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
reduce=[...], reduce_concat=[2, 3, 4, 5])`` (``range(2, 6)`` is read too, as DARTS prints it).
It is read with :mod:`ast`, never evaluated, and checked strictly.
"""

from __future__ import annotations

import ast

import numpy as np

from pmfnas.errors import ArchitectureError
from pmfnas.types import Arch

OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The operations of a genotype's edges (DARTS' primitives without ``none``, in their order)."""

CELLS: tuple[str, ...] = ("normal", "reduce")
NODES = 4
"""Intermediate nodes per cell (2..5)."""
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
PER_NODE = 4
"""Ints per node in an arch: input, op, input, op."""
PER_CELL = NODES * PER_NODE
LENGTH = len(CELLS) * PER_CELL
EDGES_PER_CELL = sum(2 + node for node in range(NODES))
"""14: every earlier node to every intermediate node, the choice points of the supernet."""


def node_slice(cell: int, node: int) -> slice:
    """Where node ``node`` (0..3, i.e. nodes 2..5) of cell ``cell`` (0 normal, 1 reduce) lies."""
    start = cell * PER_CELL + node * PER_NODE
    return slice(start, start + PER_NODE)


def edge_index(node: int, source: int) -> int:
    """The supernet edge (0..13) from ``source`` into intermediate node ``node`` (0..3): edges
    are numbered node by node, each node's from input 0 upwards, as in DARTS' search code."""
    return sum(2 + earlier for earlier in range(node)) + source


def node_pair(source_a: int, op_a: int, source_b: int, op_b: int) -> tuple[int, int, int, int]:
    """One node's four ints in canonical order (inputs increasing)."""
    if source_b < source_a:
        source_a, op_a, source_b, op_b = source_b, op_b, source_a, op_a
    return source_a, op_a, source_b, op_b


def check(arch: Arch) -> Arch:
    """``arch`` if it is a canonical DARTS genotype, else an :class:`ArchitectureError`."""
    if (
        not isinstance(arch, tuple)
        or len(arch) != LENGTH
        or not all(isinstance(v, int | np.integer) for v in arch)
    ):
        raise ArchitectureError(f"not a DARTS genotype: {arch!r}")
    for cell in range(len(CELLS)):
        for node in range(NODES):
            source_a, op_a, source_b, op_b = arch[node_slice(cell, node)]
            if not 0 <= source_a < source_b < 2 + node:
                raise ArchitectureError(
                    f"not a DARTS genotype: node {2 + node} of the {CELLS[cell]} cell takes "
                    f"inputs {source_a} and {source_b} (two different nodes before it, "
                    "in increasing order)"
                )
            if not (0 <= op_a < len(OPS) and 0 <= op_b < len(OPS)):
                raise ArchitectureError(f"not a DARTS genotype: operation id out of range {arch!r}")
    return arch


def format_genotype(arch: Arch) -> str:
    """The canonical text of ``arch``."""
    check(arch)
    parts = []
    for cell, name in enumerate(CELLS):
        edges = ", ".join(
            f"({OPS[op]!r}, {source})"
            for node in range(NODES)
            for source, op in _edges(arch[node_slice(cell, node)])
        )
        parts.append(f"{name}=[{edges}], {name}_concat={list(CONCAT)}")
    return f"Genotype({', '.join(parts)})"


def _edges(values: tuple[int, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
    return (values[0], values[1]), (values[2], values[3])


def parse(text: str) -> Arch:
    """Read a genotype text; anything but the form in the module docstring is an error."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ArchitectureError(f"malformed DARTS genotype {text!r}: not a Genotype(...)") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)):
        raise ArchitectureError(f"malformed DARTS genotype {text!r}: not a Genotype(...)")
    if tree.func.id != "Genotype" or tree.args:
        raise ArchitectureError(
            f"malformed DARTS genotype {text!r}: expected Genotype(normal=..., normal_concat=..., "
            "reduce=..., reduce_concat=...)"
        )
    fields = {keyword.arg: keyword.value for keyword in tree.keywords}
    expected = {name + suffix for name in CELLS for suffix in ("", "_concat")}
    if set(fields) != expected or len(tree.keywords) != len(expected):
        raise ArchitectureError(
            f"malformed DARTS genotype {text!r}: needs exactly the fields "
            f"{', '.join(sorted(expected))}"
        )
    values: list[int] = []
    for name in CELLS:
        _check_concat(fields[name + "_concat"], name, text)
        values.extend(_read_cell(fields[name], name, text))
    return check(tuple(values))


def _read_cell(node: ast.expr, name: str, text: str) -> list[int]:
    try:
        edges = ast.literal_eval(node)
    except ValueError:
        edges = None
    if not (
        isinstance(edges, list)
        and len(edges) == 2 * NODES
        and all(
            isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) and type(e[1]) is int
            for e in edges
        )
    ):
        raise ArchitectureError(
            f"malformed DARTS genotype {text!r}: {name} must be {2 * NODES} pairs (op, input)"
        )
    values: list[int] = []
    for node in range(NODES):
        (op_a, source_a), (op_b, source_b) = edges[2 * node : 2 * node + 2]
        for op in (op_a, op_b):
            if op not in OPS:
                hint = " (none exists only inside the supernet)" if op == "none" else ""
                raise ArchitectureError(f"unknown DARTS operation {op!r} in {name}{hint}")
        if source_a == source_b or not all(0 <= s < 2 + node for s in (source_a, source_b)):
            raise ArchitectureError(
                f"malformed DARTS genotype: node {2 + node} of {name} takes inputs "
                f"{source_a} and {source_b}; it needs two different nodes among 0..{1 + node}"
            )
        values.extend(node_pair(source_a, OPS.index(op_a), source_b, OPS.index(op_b)))
    return values


def _check_concat(node: ast.expr, name: str, text: str) -> None:
    """The output concatenates nodes 2..5: ``[2, 3, 4, 5]`` or ``range(2, 6)``."""
    is_range = (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and [getattr(a, "value", None) for a in node.args] == [CONCAT[0], CONCAT[-1] + 1]
    )
    if is_range:
        return
    try:
        concat = ast.literal_eval(node)
    except ValueError:
        concat = None
    if concat != list(CONCAT):
        raise ArchitectureError(
            f"malformed DARTS genotype {text!r}: {name}_concat must be [2, 3, 4, 5] "
            "(the cell's output concatenates its four intermediate nodes)"
        )
