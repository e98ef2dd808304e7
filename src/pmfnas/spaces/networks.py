"""The NAS-Bench-201 network for a cell, and a FLOPs counter that follows NB201's convention.

Macro skeleton: a 3x3 stem, three stages of ``cells_per_stage`` cells at C, 2C and 4C channels
joined by residual reduction blocks, then batch norm, ReLU, global average pooling and a linear
classifier. With the defaults its parameter count equals the NB201 records exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pmfnas.spaces.nb201 import check
from pmfnas.spaces.nb201_costs import check_input_size, check_network_size
from pmfnas.spaces.ops import Cell, ResidualReduction
from pmfnas.types import Arch

if TYPE_CHECKING:
    from pmfnas.data import ImageDataset


class NB201Network(nn.Module):
    """Stem, three stages of cells with reductions between them, and the classifier head."""

    def __init__(
        self,
        cell: Arch,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> None:
        super().__init__()
        check(cell)
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
            layers.extend(Cell(cell, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))


def build_network(
    cell: Arch,
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
    input_channels: int = 3,
) -> NB201Network:
    """The NB201 network of ``cell``; the input resolution does not change the module."""
    return NB201Network(
        cell,
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_channels=input_channels,
    )


def check_buildable(
    data: ImageDataset, channels: int, cells_per_stage: int, resolution: int = 0
) -> None:
    """A :class:`~pmfnas.errors.ConfigError`, before any work, unless NB201 networks of this
    size can be built for ``data``'s classes, channels and image size (``resolution`` pixels
    per side, if the images are to be resized)."""
    check_network_size(
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=data.num_classes,
        input_channels=data.channels,
    )
    for side in (resolution,) if resolution else data.image_size:
        check_input_size(side)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, as NB201 counted them (every parameter, batch-norm affine included)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: int, input_channels: int = 3) -> float:
    """FLOPs in millions of one ``input_size``² image, in NB201's convention.

    NB201 counted multiply-accumulates of convolutions and linear layers plus one addition per
    output of a layer with a bias; pooling, batch norm, activations and sums count nothing.
    ``FlopCounterMode`` counts 2 per multiply-accumulate and ignores biases, so this halves its
    total and adds the bias outputs, found with forward hooks.
    """
    bias_adds = 0

    def add_bias(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal bias_adds
        bias_adds += output.numel()

    hooks = [
        m.register_forward_hook(add_bias)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None
    ]
    was_training = model.training
    model.eval()  # batch norm cannot take one image per batch in training mode
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, input_channels, input_size, input_size))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return (counter.get_total_flops() / 2 + bias_adds) / 1e6
