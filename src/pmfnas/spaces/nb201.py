"""The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 operations, 15,625 cells.

A cell is a tuple of six operation ids in the canonical edge order of the architecture string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: edges (0→1), (0→2), (1→2), (0→3), (1→3), (2→3).
Indices follow the official NATS-Bench order (``meta_archs`` of the official archive), shipped with
the package as the base-5 code of each cell in index order, so no data file is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from importlib import resources

import numpy as np

from pmfnas.errors import ArchitectureError
from pmfnas.types import Arch
from pmfnas.units import plain_int

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Operation names; a cell stores each edge's op as its position in this tuple."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source node, target node) of each cell position, in architecture-string order."""

NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES

_TOKEN = re.compile(r"([a-z0-9_]+)~(\d)")


def _code(cell: Arch) -> int:
    code = 0
    for op in cell:
        code = code * len(OPS) + op
    return code


def _cell(code: int) -> Arch:
    ops = []
    for _ in range(NUM_EDGES):
        code, op = divmod(code, len(OPS))
        ops.append(op)
    return tuple(reversed(ops))


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


class NB201Space:
    """NAS-Bench-201 cells with the operators strategies need (all pure functions of a seed)."""

    name = "nb201"
    size = NUM_ARCHS

    @cached_property
    def _codes(self) -> np.ndarray:
        """Base-5 code of each cell in NATS index order."""
        ref = resources.files("pmfnas.spaces").joinpath("nb201_nats_order.npy")
        with ref.open("rb") as f:
            return np.load(f, allow_pickle=False).astype(np.int64)

    @cached_property
    def _index_of_code(self) -> np.ndarray:
        inverse = np.empty(NUM_ARCHS, dtype=np.int64)
        inverse[self._codes] = np.arange(NUM_ARCHS)
        return inverse

    def parse(self, text: str) -> Arch:
        return parse(text)

    def format(self, arch: Arch) -> str:
        return format_cell(arch)

    def resolve(self, text: str) -> Arch:
        """Read a user's architecture: an NATS index (``6111``) or a canonical string."""
        text = text.strip()
        index = plain_int(text)
        return parse(text) if index is None else self.arch(index)

    def index(self, arch: Arch) -> int:
        return int(self._index_of_code[_code(check(arch))])

    def arch(self, index: int) -> Arch:
        if not 0 <= index < NUM_ARCHS:
            raise ArchitectureError(f"NB201 index {index} out of range 0..{NUM_ARCHS - 1}")
        return _cell(int(self._codes[index]))

    def sample(self, rng: np.random.Generator) -> Arch:
        return tuple(int(op) for op in rng.integers(0, len(OPS), size=NUM_EDGES))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one uniformly chosen edge to a different, uniformly chosen operation."""
        edge = int(rng.integers(NUM_EDGES))
        op = int(rng.integers(len(OPS) - 1))
        op += op >= arch[edge]  # skip the current op
        return (*arch[:edge], op, *arch[edge + 1 :])

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Uniform crossover: each edge comes from ``a`` or ``b`` with probability 1/2."""
        pick = rng.random(NUM_EDGES) < 0.5
        return tuple(x if p else y for x, y, p in zip(a, b, pick, strict=True))

    def neighbours(self, arch: Arch) -> list[Arch]:
        """The 24 cells that differ from ``arch`` on exactly one edge."""
        return [
            (*arch[:e], op, *arch[e + 1 :])
            for e in range(NUM_EDGES)
            for op in range(len(OPS))
            if op != arch[e]
        ]

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot encoding (6 edges × 5 ops = 30 floats), the usual input of predictors."""
        out = np.zeros((NUM_EDGES, len(OPS)), dtype=np.float32)
        out[np.arange(NUM_EDGES), list(arch)] = 1.0
        return out.ravel()

    def __iter__(self) -> Iterator[Arch]:
        """All 15,625 cells in NATS index order."""
        return (self.arch(i) for i in range(NUM_ARCHS))
