"""The official NATS-Bench index order of the 15,625 cells (``meta_archs`` of the official
archive), shipped with the package as the base-5 code of each cell in index order, so that no
data file is needed to index a cell."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

from pmfnas.errors import ArchitectureError
from pmfnas.spaces.nb201.cell import NUM_ARCHS, NUM_EDGES, OPS, check
from pmfnas.types import Arch


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


@cache
def _codes() -> np.ndarray:
    """Base-5 code of each cell in NATS index order."""
    with resources.files(__package__).joinpath("nats_order.npy").open("rb") as f:
        return np.load(f, allow_pickle=False).astype(np.int64)


@cache
def _index_of_code() -> np.ndarray:
    inverse = np.empty(NUM_ARCHS, dtype=np.int64)
    inverse[_codes()] = np.arange(NUM_ARCHS)
    return inverse


def index_of(cell: Arch) -> int:
    """The NATS index of a valid cell."""
    return int(_index_of_code()[_code(check(cell))])


def cell_at(index: int) -> Arch:
    """The cell at a NATS index; outside ``0..15624`` an :class:`ArchitectureError`."""
    if not 0 <= index < NUM_ARCHS:
        raise ArchitectureError(f"NB201 index {index} out of range 0..{NUM_ARCHS - 1}")
    return _cell(int(_codes()[index]))


def all_cells() -> np.ndarray:
    """Every cell in NATS index order, as a (15,625, 6) array of op ids."""
    return np.array([_cell(int(code)) for code in _codes()], dtype=np.int64)
