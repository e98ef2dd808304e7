"""PyTorch building blocks of DARTS networks: the edge operations and the cells' preprocessing.

Layer choices follow DARTS' ``operations.py`` (bias-free convolutions, ``count_include_pad=False``
average pooling, the double separable convolution), so that the evaluation networks of published
genotypes have their published parameter counts. ``affine=False`` gives the search supernet's
batch norm, which has no affine parameters (the convolutions stay bias-free, as in DARTS).
"""

from __future__ import annotations

import torch
from torch import nn

from pmfnas.spaces.darts.costs import KERNELS


class ReLUConvBN(nn.Sequential):
    """ReLU → convolution → batch norm: a cell's 1x1 preprocessing of its inputs."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, affine: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU → depthwise k x k convolution of dilation 2 → pointwise convolution → batch norm."""

    def __init__(self, channels: int, kernel: int, stride: int, *, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                channels,
                channels,
                kernel,
                stride=stride,
                padding=kernel - 1,
                dilation=2,
                groups=channels,
                bias=False,
            ),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )


class SepConv(nn.Sequential):
    """DARTS' separable convolution: a (depthwise, pointwise, batch norm) unit applied twice,
    the first one at the op's stride, each after a ReLU."""

    def __init__(self, channels: int, kernel: int, stride: int, *, affine: bool = True) -> None:
        layers: list[nn.Module] = []
        for unit_stride in (stride, 1):
            layers += [
                nn.ReLU(inplace=False),
                nn.Conv2d(
                    channels,
                    channels,
                    kernel,
                    stride=unit_stride,
                    padding=kernel // 2,
                    groups=channels,
                    bias=False,
                ),
                nn.Conv2d(channels, channels, 1, bias=False),
                nn.BatchNorm2d(channels, affine=affine),
            ]
        super().__init__(*layers)


class FactorizedReduce(nn.Module):
    """Halves the resolution without discarding pixels: two stride-2 1x1 convolutions of
    ``c_out / 2`` channels each, one on the input and one on it shifted by a pixel, concatenated.
    ``c_out`` must be even; the input side too, or the two halves differ in size."""

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` edge: zeros of the op's output shape, so that sums at a node keep theirs."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(name: str, channels: int, stride: int, *, affine: bool = True) -> nn.Module:
    """One edge operation (a name of :data:`~pmfnas.spaces.darts.costs.CANDIDATES`) on ``channels`` channels."""
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine=affine)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name.startswith("sep_conv"):
        return SepConv(channels, KERNELS[name], stride, affine=affine)
    if name.startswith("dil_conv"):
        return DilConv(channels, KERNELS[name], stride, affine=affine)
    raise ValueError(f"unknown DARTS operation {name!r}")


def make_preprocess(
    c_prev_prev: int, c_prev: int, channels: int, *, reduction_prev: bool, affine: bool = True
) -> tuple[nn.Module, nn.Module]:
    """A cell's two 1x1 adapters of its inputs to its width; after a reduction cell the older
    input is one resolution step larger, so it is reduced as well."""
    if reduction_prev:
        first: nn.Module = FactorizedReduce(c_prev_prev, channels, affine=affine)
    else:
        first = ReLUConvBN(c_prev_prev, channels, 1, affine=affine)
    return first, ReLUConvBN(c_prev, channels, 1, affine=affine)
