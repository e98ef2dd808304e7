"""PyTorch building blocks of NAS-Bench-201 networks: the five edge operations, the cell and the
residual reduction block between stages.

Layer choices (bias-free convolutions, affine batch norm, ``count_include_pad=False``) follow the
NB201 definition, so parameter counts equal the benchmark's records. The one-shot supernet's edges
use batch norm without affine parameters, whose convolutions then carry a bias (as in XAutoDL's
search networks, whose published weight count the supernet must equal).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pmfnas.spaces.nb201.cell import EDGES, OPS, check
from pmfnas.types import Arch


class ReLUConvBN(nn.Sequential):
    """ReLU → convolution → batch norm: NB201's ``nor_conv_kxk``. The convolution has a bias
    exactly when the batch norm has no affine shift to stand in for it."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, affine: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not affine),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` edge: zeros of the input's shape, so the sum at a node keeps its shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int, *, affine: bool = True) -> nn.Module:
    """One edge operation on ``channels`` channels at stride 1 (``affine``: see the module)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 operation {name!r}")


def run_cell(x: torch.Tensor, edge: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """An NB201 cell's data flow: node 0 is ``x``, node i sums ``edge(e, node j)`` over the edges
    e = (j→i), node 3 is the output. Fixed cells and the supernet's mixed cells share it."""
    nodes = [x]
    for target in range(1, 4):
        outs = [edge(e, nodes[src]) for e, (src, dst) in enumerate(EDGES) if dst == target]
        nodes.append(sum(outs[1:], outs[0]))
    return nodes[-1]


class Cell(nn.Module):
    """An NB201 cell with one fixed operation per edge."""

    def __init__(self, cell: Arch, channels: int) -> None:
        super().__init__()
        check(cell)
        self.edges = nn.ModuleList(make_op(OPS[op], channels) for op in cell)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_cell(x, lambda e, node: self.edges[e](node))


class ResidualReduction(nn.Module):
    """ResNet basic block that halves the resolution and changes the width between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))
