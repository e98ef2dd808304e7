"""PyTorch building blocks of NAS-Bench-201 networks: the five edge operations, the cell and the
residual reduction block between stages.

Layer choices (bias-free convolutions, affine batch norm, ``count_include_pad=False``) follow the
NB201 definition, so parameter counts equal the benchmark's records.
"""

from __future__ import annotations

import torch
from torch import nn

from pmfnas.spaces.nb201.cell import EDGES, OPS, check
from pmfnas.types import Arch


class ReLUConvBN(nn.Sequential):
    """ReLU → bias-free convolution → affine batch norm: NB201's ``nor_conv_kxk``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=True),
        )


class Zero(nn.Module):
    """The ``none`` edge: zeros of the input's shape, so the sum at a node keeps its shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """One edge operation on ``channels`` channels at stride 1."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 operation {name!r}")


class Cell(nn.Module):
    """An NB201 cell: node 0 is the input, node i sums op_{j→i}(node j) over j < i, node 3 out."""

    def __init__(self, cell: Arch, channels: int) -> None:
        super().__init__()
        check(cell)
        self.edges = nn.ModuleList(make_op(OPS[op], channels) for op in cell)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, 4):
            outs = [
                edge(nodes[src])
                for edge, (src, dst) in zip(self.edges, EDGES, strict=True)
                if dst == target
            ]
            nodes.append(sum(outs[1:], outs[0]))
        return nodes[-1]


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
