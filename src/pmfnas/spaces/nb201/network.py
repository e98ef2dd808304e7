"""The NAS-Bench-201 network for a cell, and the macro skeleton it shares with the supernet.

Macro skeleton: a 3x3 stem, three stages of ``cells_per_stage`` cells at C, 2C and 4C channels
joined by residual reduction blocks, then batch norm, ReLU, global average pooling and a linear
classifier. With the defaults its parameter count equals the NB201 records exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pmfnas.spaces.nb201.cell import check
from pmfnas.spaces.nb201.costs import check_network_size
from pmfnas.spaces.nb201.ops import Cell, ResidualReduction
from pmfnas.types import Arch


class MacroNetwork(nn.Module):
    """Stem, three stages of the cells ``make_cell(width)`` builds with reductions between them,
    and the classifier head; subclasses say how data flows through their cells."""

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        *,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        input_channels: int,
    ) -> None:
        super().__init__()
        check_network_size(
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )
        widths = (channels, 2 * channels, 4 * channels)
        self.stem = nn.Sequential(
            nn.Conv2d(input_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        layers: list[nn.Module] = []
        for stage, width in enumerate(widths):
            if stage > 0:
                layers.append(ResidualReduction(widths[stage - 1], width))
            layers.extend(make_cell(width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(widths[-1], num_classes)


class NB201Network(MacroNetwork):
    """The trainable network of one cell (defaults: the benchmark's C=16, N=5, 10 classes)."""

    def __init__(
        self,
        cell: Arch,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> None:
        check(cell)
        super().__init__(
            lambda width: Cell(cell, width),
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))
