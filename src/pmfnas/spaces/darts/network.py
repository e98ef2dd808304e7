"""The evaluation network of a DARTS genotype (DARTS' ``NetworkCIFAR``).

The layout of :func:`pmfnas.spaces.darts.costs.layout`: with the defaults (C=36, 20 cells, 10
classes) the published genotypes have their published parameter counts. ``forward`` returns the
logits alone, so every trainer can use the network; a recipe with the auxiliary loss reads
:attr:`DartsNetwork.auxiliary_logits` after a training pass. The auxiliary head is the submodule
``auxiliary``, so its parameters can be told apart by name.
"""

from __future__ import annotations

import torch
from torch import nn

from pmfnas.errors import ConfigError
from pmfnas.spaces.darts.costs import (
    AUX_WIDTH,
    MULTIPLIER,
    CellShape,
    auxiliary_after,
    check_network_size,
    layout,
)
from pmfnas.spaces.darts.genotype import NODES, OPS, check, node_slice
from pmfnas.spaces.darts.ops import make_op, make_preprocess
from pmfnas.types import Arch


def drop_path(x: torch.Tensor, probability: float) -> torch.Tensor:
    """Zero each sample's ``x`` with ``probability`` and scale the kept ones to keep the mean
    (DARTS' regulariser of the evaluation training: whole paths of a cell drop out)."""
    keep = 1.0 - probability
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class Cell(nn.Module):
    """A cell of a genotype: each intermediate node sums two operations on earlier nodes."""

    def __init__(self, arch: Arch, shape: CellShape) -> None:
        super().__init__()
        self.preprocess0, self.preprocess1 = make_preprocess(
            shape.c_prev_prev, shape.c_prev, shape.channels, reduction_prev=shape.reduction_prev
        )
        self.sources: list[int] = []
        ops: list[nn.Module] = []
        for node in range(NODES):
            source_a, op_a, source_b, op_b = arch[node_slice(shape.kind, node)]
            for source, op in ((source_a, op_a), (source_b, op_b)):
                stride = 2 if shape.reduction and source < 2 else 1
                self.sources.append(source)
                ops.append(make_op(OPS[op], shape.channels, stride))
        self.ops = nn.ModuleList(ops)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(NODES):
            total = None
            for edge in (2 * node, 2 * node + 1):
                op = self.ops[edge]
                h = op(states[self.sources[edge]])
                if self.training and drop > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Sequential):
    """DARTS' CIFAR auxiliary classifier on the 8x8 output of the second reduction cell."""

    def __init__(self, channels: int, num_classes: int) -> None:
        first, second = AUX_WIDTH
        super().__init__(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, first, 1, bias=False),
            nn.BatchNorm2d(first),
            nn.ReLU(inplace=False),
            nn.Conv2d(first, second, 2, bias=False),
            nn.BatchNorm2d(second),
            nn.ReLU(inplace=False),
            nn.Flatten(),
            nn.Linear(second, num_classes),
        )


class DartsNetwork(nn.Module):
    """The trainable network of a DARTS genotype (see the module docstring).

    ``drop_path``: the probability that a training pass drops an operation's output (each
    operation but the identity, per sample), an attribute a trainer may change between epochs.
    """

    def __init__(
        self,
        arch: Arch,
        *,
        channels: int = 36,
        cells_per_stage: int = 6,
        num_classes: int = 10,
        input_channels: int = 3,
        auxiliary: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        check(arch)
        check_network_size(
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )
        self.drop_path = drop_path
        shapes = layout(channels, cells_per_stage)
        stem = shapes[0].c_prev
        self.stem = nn.Sequential(
            nn.Conv2d(input_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem)
        )
        self.cells = nn.ModuleList(Cell(arch, shape) for shape in shapes)
        self.auxiliary_index = auxiliary_after(cells_per_stage)
        self.auxiliary = (
            AuxiliaryHead(MULTIPLIER * shapes[self.auxiliary_index].channels, num_classes)
            if auxiliary
            else None
        )
        self.auxiliary_logits: torch.Tensor | None = None
        """The auxiliary head's logits of the last training pass; None without the head."""
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(MULTIPLIER * shapes[-1].channels, num_classes)

    @property
    def drop_path(self) -> float:
        return self._drop_path

    @drop_path.setter
    def drop_path(self, probability: float) -> None:
        if not 0.0 <= probability < 1.0:
            raise ConfigError(f"drop_path must lie in [0, 1), got {probability}")
        self._drop_path = float(probability)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.auxiliary_logits = None
        s0 = s1 = self.stem(x)
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path)
            if index == self.auxiliary_index and self.auxiliary is not None and self.training:
                self.auxiliary_logits = self.auxiliary(s1)
        return self.classifier(self.pool(s1).flatten(1))
