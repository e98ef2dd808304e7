"""The NAS-Bench-201 search space: 15,625 cells with the operators strategies need, indexed in
the official NATS order (:mod:`~pmfnas.spaces.nb201.order`), with its networks built on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.spaces.base import SPACES
from pmfnas.spaces.choices import ChoiceOperators
from pmfnas.spaces.nb201.cell import NUM_ARCHS, NUM_EDGES, OPS, check, format_cell, parse
from pmfnas.spaces.nb201.costs import (
    all_params_and_flops,
    check_input_size,
    check_network_size,
    params_and_flops,
)
from pmfnas.spaces.nb201.order import cell_at, index_of
from pmfnas.types import Arch
from pmfnas.units import plain_int

if TYPE_CHECKING:
    from torch import nn

    from pmfnas.data import ImageDataset


@SPACES.register("nb201")
class NB201Space(ChoiceOperators):
    """NAS-Bench-201 cells: one of 5 operations on each of 6 edges. The operators strategies need
    are those of a tuple of choices (a mutation changes one edge, a neighbour differs on one
    edge, the encoding is one-hot: 30 floats)."""

    name = "nb201"
    size = NUM_ARCHS
    positions = NUM_EDGES
    options = len(OPS)
    candidates = OPS
    choice_points = NUM_EDGES
    parameter_free = frozenset({"none", "skip_connect", "avg_pool_3x3"})

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
        return index_of(arch)

    def arch(self, index: int) -> Arch:
        return cell_at(index)

    def network(
        self,
        arch: Arch,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> nn.Module:
        """NB201's macro network around the cell (defaults: the benchmark's C=16, N=5)."""
        from pmfnas.spaces.nb201.network import NB201Network

        return NB201Network(
            arch,
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )

    def supernet(
        self,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> nn.Module:
        """The one-shot network over all cells (:mod:`pmfnas.spaces.nb201.supernet`)."""
        from pmfnas.spaces.nb201.supernet import NB201Supernet

        return NB201Supernet(
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )

    def derive(self, alpha: np.ndarray) -> Arch:
        """The strongest operation of each edge (``none`` included: NB201 has it as a real op)."""
        alpha = np.asarray(alpha)
        if alpha.shape != (NUM_EDGES, len(OPS)):
            raise ConfigError(f"NB201's alpha is {NUM_EDGES} x {len(OPS)}, got {alpha.shape}")
        return tuple(int(op) for op in alpha.argmax(axis=1))

    def path(self, arch: Arch) -> tuple[int, ...]:
        """A cell runs in the supernet as its own operation ids."""
        return check(arch)

    def collapse_ops(self, arch: Arch) -> list[str]:
        return [OPS[op] for op in check(arch)]

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
        """Counted analytically (:mod:`pmfnas.spaces.nb201.costs`), in NB201's convention."""
        _, flops = params_and_flops(
            np.array([arch], dtype=np.int64),
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_size=input_size,
            input_channels=input_channels,
        )
        return float(flops[0]) * 1e6

    def typical(self) -> Arch:
        """The cell of median FLOPs at the benchmark's size."""
        return self.arch(_median_index())

    def __iter__(self) -> Iterator[Arch]:
        """All 15,625 cells in NATS index order."""
        return (self.arch(i) for i in range(NUM_ARCHS))


@cache
def _median_index() -> int:
    _, flops = all_params_and_flops()
    return int(np.argsort(flops, kind="stable")[len(flops) // 2])
