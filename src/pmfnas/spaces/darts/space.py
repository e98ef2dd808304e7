"""The DARTS cell space: about 10^18 genotypes, so it is sampled and searched, never enumerated.

Operators work node by node, so that every result is a valid genotype: a mutation changes one
edge's operation or moves it to another input node; crossover takes each node's pair of edges
from one parent or the other; the neighbours of a genotype are all genotypes one such change
away. The encoding for predictors is the supernet's view: one row per edge (14 per cell), one
column per operation, 1 where the genotype uses that edge with that operation (196 floats).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces.base import SPACES
from pmfnas.spaces.darts.costs import (
    CANDIDATES,
    check_input_size,
    check_network_size,
    params_and_flops,
)
from pmfnas.spaces.darts.genotype import (
    CELLS,
    EDGES_PER_CELL,
    NODES,
    OPS,
    PER_CELL,
    PER_NODE,
    check,
    edge_index,
    format_genotype,
    node_pair,
    node_slice,
    parse,
)
from pmfnas.spaces.darts.published import PUBLISHED
from pmfnas.types import Arch

if TYPE_CHECKING:
    from torch import nn

    from pmfnas.data import ImageDataset

TYPICAL_SAMPLE = 1000
"""Genotypes sampled (seed 0) to find one of median cost."""


@SPACES.register("darts")
class DartsSpace:
    """DARTS genotypes (:mod:`~pmfnas.spaces.darts.genotype`) with the operators strategies
    need (module docstring), the evaluation network, the search supernet and their costs."""

    name = "darts"
    candidates = CANDIDATES
    choice_points = len(CELLS) * EDGES_PER_CELL
    parameter_free = frozenset({"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"})

    def parse(self, text: str) -> Arch:
        return parse(text)

    def format(self, arch: Arch) -> str:
        return format_genotype(arch)

    def resolve(self, text: str) -> Arch:
        """Read a user's genotype: its text or a published name (``DARTS_V2``, ``PC_DARTS`` ...)."""
        text = text.strip()
        if text.isidentifier() and text not in PUBLISHED:
            raise ArchitectureError(
                f"unknown genotype name {text!r} (published: {', '.join(PUBLISHED)}); or give "
                "the Genotype(...) text"
            )
        return parse(PUBLISHED.get(text, text))

    # ---------------------------------------------------------------- operators

    def sample(self, rng: np.random.Generator) -> Arch:
        """Each node: two different earlier nodes, uniformly, and an operation for each."""
        edges = len(CELLS) * NODES * 2
        draws, ops = rng.random(edges).tolist(), rng.integers(0, len(OPS), size=edges).tolist()
        values: list[int] = []
        for k in range(len(CELLS) * NODES):
            node = k % NODES
            source_a = int(draws[2 * k] * (2 + node))
            source_b = int(draws[2 * k + 1] * (1 + node))
            source_b += source_b >= source_a  # another node than source_a, uniformly
            values.extend(node_pair(source_a, ops[2 * k], source_b, ops[2 * k + 1]))
        return tuple(values)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """One edge changes: its operation, or (half the time, where the node has another
        earlier node to take) its input."""
        check(arch)
        cell, node, edge = (
            int(rng.integers(len(CELLS))),
            int(rng.integers(NODES)),
            int(rng.integers(2)),
        )
        where = node_slice(cell, node)
        pair = list(arch[where])
        free = [s for s in range(2 + node) if s not in (pair[0], pair[2])]
        if free and rng.random() < 0.5:
            pair[2 * edge] = free[int(rng.integers(len(free)))]
        else:
            op = int(rng.integers(len(OPS) - 1))
            pair[2 * edge + 1] = op + (op >= pair[2 * edge + 1])
        return _replace(arch, where, node_pair(*pair))

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Each node's pair of edges from ``a`` or ``b`` with probability 1/2."""
        check(a), check(b)
        pick = rng.random(len(CELLS) * NODES) < 0.5
        return tuple(
            v
            for k, take_a in enumerate(pick)
            for v in (a if take_a else b)[k * PER_NODE : (k + 1) * PER_NODE]
        )

    def neighbours(self, arch: Arch) -> list[Arch]:
        """Every genotype one edge change away: another operation, or another input node."""
        check(arch)
        out: list[Arch] = []
        for cell in range(len(CELLS)):
            for node in range(NODES):
                where = node_slice(cell, node)
                pair = arch[where]
                for edge in range(2):
                    for op in range(len(OPS)):
                        if op != pair[2 * edge + 1]:
                            changed = list(pair)
                            changed[2 * edge + 1] = op
                            out.append(_replace(arch, where, tuple(changed)))
                    for source in range(2 + node):
                        if source not in (pair[0], pair[2]):
                            changed = list(pair)
                            changed[2 * edge] = source
                            out.append(_replace(arch, where, node_pair(*changed)))
        return out

    def encode(self, arch: Arch) -> np.ndarray:
        """Edge × operation one-hot of the edges the genotype uses (module docstring)."""
        out = np.zeros((self.choice_points, len(OPS)), dtype=np.float32)
        for row, op in self._active_edges(arch):
            out[row, op] = 1.0
        return out.ravel()

    def _active_edges(self, arch: Arch) -> list[tuple[int, int]]:
        """(supernet edge row 0..27, operation) of each of the genotype's 16 edges."""
        check(arch)
        edges = []
        for cell in range(len(CELLS)):
            for node in range(NODES):
                source_a, op_a, source_b, op_b = arch[node_slice(cell, node)]
                base = cell * EDGES_PER_CELL
                edges += [
                    (base + edge_index(node, source_a), op_a),
                    (base + edge_index(node, source_b), op_b),
                ]
        return edges

    # ---------------------------------------------------------------- one-shot

    def path(self, arch: Arch) -> tuple[int, ...]:
        """The supernet candidate of each of the 28 edges: the genotype's operation on its
        edges, ``none`` on the others."""
        path = [0] * self.choice_points
        for row, op in self._active_edges(arch):
            path[row] = op + 1
        return tuple(path)

    def collapse_ops(self, arch: Arch) -> list[str]:
        """The normal cell's eight operations (DARTS' collapse fills it with skip connections)."""
        check(arch)
        return [OPS[arch[k]] for k in range(1, PER_CELL, 2)]

    def derive(self, alpha: np.ndarray) -> Arch:
        """DARTS' rule on edge weights (28 x 8): per node the two incoming edges with the
        strongest non-``none`` weight, each with its strongest non-``none`` operation (ties:
        the earlier input, the earlier operation)."""
        alpha = np.asarray(alpha, dtype=np.float64)
        if alpha.shape != (self.choice_points, len(CANDIDATES)):
            raise ConfigError(
                f"DARTS' alpha is {self.choice_points} x {len(CANDIDATES)}, got {alpha.shape}"
            )
        values: list[int] = []
        for cell in range(len(CELLS)):
            for node in range(NODES):
                rows = alpha[[cell * EDGES_PER_CELL + edge_index(node, s) for s in range(2 + node)]]
                strength = rows[:, 1:].max(axis=1)
                source_a, source_b = np.argsort(-strength, kind="stable")[:2]
                op_a, op_b = (int(rows[s, 1:].argmax()) for s in (source_a, source_b))
                values.extend(node_pair(int(source_a), op_a, int(source_b), op_b))
        return tuple(values)

    # ---------------------------------------------------------------- networks

    def network(
        self,
        arch: Arch,
        *,
        channels: int = 36,
        cells_per_stage: int = 6,
        num_classes: int = 10,
        input_channels: int = 3,
        auxiliary: bool = False,
    ) -> nn.Module:
        """DARTS' evaluation network of ``arch`` (defaults: the published 20 cells at C=36;
        ``cells_per_stage`` normal cells between reductions, so ``3 N + 2`` cells in all), with
        the auxiliary head that DARTS' training recipe trains if ``auxiliary``."""
        from pmfnas.spaces.darts.network import DartsNetwork

        return DartsNetwork(
            check(arch),
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
            auxiliary=auxiliary,
        )

    def supernet(
        self,
        *,
        channels: int = 16,
        cells_per_stage: int = 2,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> nn.Module:
        """DARTS' search network over every genotype (defaults: 8 cells at C=16)."""
        from pmfnas.spaces.darts.supernet import DartsSupernet

        return DartsSupernet(
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )

    def check_buildable(
        self, data: ImageDataset, channels: int, cells_per_stage: int, resolution: int = 0
    ) -> None:
        check_network_size(
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=data.num_classes,
            input_channels=data.channels,
        )
        for side in (resolution,) if resolution else data.image_size:
            check_input_size(side)

    def forward_flops(
        self,
        arch: Arch,
        *,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        input_size: int,
        input_channels: int,
    ) -> float:
        """Multiply-accumulates of the evaluation network, counted analytically."""
        _, flops = params_and_flops(
            check(arch),
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_size=input_size,
            input_channels=input_channels,
        )
        return float(flops)

    def typical(self) -> Arch:
        """The genotype of median FLOPs among a seeded sample, at the published size."""
        return _typical()


def _replace(arch: Arch, where: slice, values: tuple[int, ...]) -> Arch:
    return (*arch[: where.start], *values, *arch[where.stop :])


@cache
def _typical() -> Arch:
    space = DartsSpace()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(TYPICAL_SAMPLE)]
    flops = [params_and_flops(a)[1] for a in archs]
    return archs[int(np.argsort(flops, kind="stable")[len(flops) // 2])]
