"""The macro layout of DARTS networks and analytic parameter and FLOPs counts of them.

Pure Python, no torch: a strategy can rank or filter thousands of genotypes by size without
building a network, and the torch builders take their layout (:func:`layout`) from here, so the
counts and the networks cannot drift apart.

Layout (DARTS' ``NetworkCIFAR`` and search ``Network``): a 3x3 stem to 3C channels, then
``3 * cells_per_stage + 2`` cells; the cells at a third and two thirds of the depth are reduction
cells, which halve the resolution and double the width. A cell of width c outputs 4c channels
(its four intermediate nodes concatenated); it adapts its two inputs to c channels with 1x1
convolutions, reducing the older input as well when the cell before it was a reduction cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from pmfnas.errors import ConfigError
from pmfnas.spaces import limits
from pmfnas.spaces.darts.genotype import CELLS, CONCAT, NODES, OPS, check, node_slice
from pmfnas.spaces.limits import check_sizes_positive
from pmfnas.types import Arch

STEM_MULTIPLIER = 3
"""The stem's width, in multiples of C."""
MULTIPLIER = len(CONCAT)
"""A cell's output width, in multiples of its own: its intermediate nodes concatenated."""
AUX_WIDTH = (128, 768)
"""The auxiliary head's two convolutions' widths (DARTS' CIFAR head)."""
AUX_SIDES = range(8, 11)
"""Resolutions the auxiliary head takes: its 5x5 pool of stride 3 gives 2x2, its 2x2 convolution
1x1, the 768 features its classifier expects."""

CANDIDATES: tuple[str, ...] = ("none", *OPS)
"""The search supernet's candidates on every edge, its α's columns: DARTS' primitives."""
KERNELS: dict[str, int] = {
    "sep_conv_3x3": 3,
    "sep_conv_5x5": 5,
    "dil_conv_3x3": 3,
    "dil_conv_5x5": 5,
}
"""Kernel side of each convolution operation."""


@dataclass(frozen=True)
class CellShape:
    """One cell's place in the network: its inputs' widths, its width and kind."""

    c_prev_prev: int
    c_prev: int
    channels: int
    reduction: bool
    reduction_prev: bool

    @property
    def kind(self) -> int:
        """0 for a normal cell, 1 for a reduction cell: which half of a genotype it runs."""
        return int(self.reduction)


def num_layers(cells_per_stage: int) -> int:
    """Cells in the network: three stages of ``cells_per_stage`` and the two reduction cells."""
    return 3 * cells_per_stage + 2


def auxiliary_after(cells_per_stage: int) -> int:
    """Index of the cell (the second reduction) whose output the auxiliary head reads."""
    return 2 * num_layers(cells_per_stage) // 3


def layout(channels: int, cells_per_stage: int) -> list[CellShape]:
    """The shapes of the cells of a network of width C = ``channels``, in order."""
    layers = num_layers(cells_per_stage)
    reductions = (layers // 3, 2 * layers // 3)
    c_prev_prev = c_prev = STEM_MULTIPLIER * channels
    width, reduction_prev = channels, False
    shapes = []
    for layer in range(layers):
        reduction = layer in reductions
        width *= 2 if reduction else 1
        shapes.append(CellShape(c_prev_prev, c_prev, width, reduction, reduction_prev))
        c_prev_prev, c_prev, reduction_prev = c_prev, MULTIPLIER * width, reduction
    return shapes


def _op_costs(name: str, channels: int, stride: int, side: int, affine: bool) -> tuple[int, int]:
    """(params, MACs) of one edge operation whose output is ``side``² pixels."""
    bn = 2 * channels if affine else 0
    pixels = side * side
    if name == "skip_connect" and stride == 2:  # a factorized reduction
        return channels * channels + bn, pixels * channels * channels
    if name not in KERNELS:  # none, identity, pooling
        return 0, 0
    unit = channels * KERNELS[name] ** 2 + channels * channels  # depthwise and pointwise
    units = 2 if name.startswith("sep_conv") else 1
    return units * (unit + bn), units * pixels * unit


def _preprocess_costs(shape: CellShape, side: int, affine: bool) -> tuple[int, int]:
    """(params, MACs) of a cell's two input adapters; ``side``: the newer input's resolution."""
    c, bn = shape.channels, (4 * shape.channels if affine else 0)
    weights = (shape.c_prev_prev + shape.c_prev) * c
    return weights + bn, side * side * weights


def _walk(shapes: list[CellShape], input_size: int) -> Iterator[tuple[CellShape, int, int]]:
    """Each cell's shape with the side of its newer input and of its output."""
    side = input_size
    for shape in shapes:
        out = side // 2 if shape.reduction else side
        yield shape, side, out
        side = out


def _stem_costs(channels: int, input_channels: int, input_size: int) -> tuple[int, int]:
    weights = 9 * input_channels * STEM_MULTIPLIER * channels
    return weights + 2 * STEM_MULTIPLIER * channels, weights * input_size * input_size


def auxiliary_params(c_in: int, num_classes: int) -> int:
    """Parameters of the auxiliary head on ``c_in`` channels (convolutions, BNs, linear)."""
    first, second = AUX_WIDTH
    return c_in * first + 2 * first + 4 * first * second + 2 * second + (second + 1) * num_classes


def _network_costs(
    arch: Arch,
    channels: int,
    cells_per_stage: int,
    num_classes: int,
    input_size: int,
    input_channels: int,
    auxiliary: bool,
) -> tuple[int, int]:
    """(params, MACs) of an evaluation network, unchecked (see :func:`params_and_flops`)."""
    (params, flops), table = _cost_table(
        channels, cells_per_stage, num_classes, input_size, input_channels, auxiliary
    )
    for cell in range(len(CELLS)):
        for node in range(NODES):
            source_a, op_a, source_b, op_b = arch[node_slice(cell, node)]
            for source, op in ((source_a, op_a), (source_b, op_b)):
                p, f = table[cell][source < 2][op]
                params, flops = params + p, flops + f
    return params, flops


@cache
def _cost_table(
    channels: int,
    cells_per_stage: int,
    num_classes: int,
    input_size: int,
    input_channels: int,
    auxiliary: bool,
) -> tuple[tuple[int, int], list[list[list[tuple[int, int]]]]]:
    """A network's costs are linear in its edges: (params, MACs) of everything but the edges,
    and per cell kind, edge kind (from a node, from a cell input) and operation, one such edge's
    costs summed over the network's cells of that kind (made once per size: thousands of
    genotypes are counted at one size)."""
    params, flops = _stem_costs(channels, input_channels, input_size)
    table = [[[(0, 0)] * len(OPS) for _ in range(2)] for _ in CELLS]
    shapes = layout(channels, cells_per_stage)
    for shape, side, out in _walk(shapes, input_size):
        p, f = _preprocess_costs(shape, side, affine=True)
        params, flops = params + p, flops + f
        for from_input in (False, True):
            stride = 2 if shape.reduction and from_input else 1
            row = table[shape.kind][from_input]
            for op, name in enumerate(OPS):
                p, f = _op_costs(name, shape.channels, stride, out, affine=True)
                row[op] = (row[op][0] + p, row[op][1] + f)
    c_last = MULTIPLIER * shapes[-1].channels
    params += (c_last + 1) * num_classes
    flops += c_last * num_classes
    if auxiliary:
        c_aux = MULTIPLIER * shapes[auxiliary_after(cells_per_stage)].channels
        params += auxiliary_params(c_aux, num_classes)
    return (params, flops), table


def params_and_flops(
    arch: Arch,
    *,
    channels: int = 36,
    cells_per_stage: int = 6,
    num_classes: int = 10,
    input_size: int = 32,
    input_channels: int = 3,
    auxiliary: bool = False,
) -> tuple[float, float]:
    """Parameters and multiply-accumulates of one ``input_size``² image's forward pass of the
    evaluation network of ``arch`` (plain counts, not millions).

    Params: every parameter, batch-norm affine weights, the classifier's bias and, with
    ``auxiliary``, the auxiliary head included. MACs: those of convolutions
    (out_h · out_w · C_out · C_in / groups · k²) and of the linear classifier (in · out, no bias)
    of an inference pass, which does not run the auxiliary head; batch norm, ReLU, pooling,
    drop-path and the additions at nodes count nothing.
    """
    check(arch)
    check_sizes_positive(
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_channels=input_channels,
    )
    check_input_size(input_size, auxiliary=auxiliary)
    params, flops = _network_costs(
        arch, channels, cells_per_stage, num_classes, input_size, input_channels, auxiliary
    )
    return float(params), float(flops)


def supernet_params(
    *, channels: int = 16, cells_per_stage: int = 2, num_classes: int = 10, input_channels: int = 3
) -> int:
    """Weights of the search supernet: every edge holds all :data:`CANDIDATES`, its cells' batch
    norms have no affine parameters (and the α are not among its weights)."""
    params = _stem_costs(channels, input_channels, 1)[0]
    shapes = layout(channels, cells_per_stage)
    for shape in shapes:
        params += _preprocess_costs(shape, 1, affine=False)[0]
        for node in range(NODES):
            for source in range(2 + node):
                stride = 2 if shape.reduction and source < 2 else 1
                params += sum(
                    _op_costs(name, shape.channels, stride, 1, affine=False)[0]
                    for name in CANDIDATES
                )
    return params + (MULTIPLIER * shapes[-1].channels + 1) * num_classes


def largest_params(
    channels: int, cells_per_stage: int, num_classes: int = 10, input_channels: int = 3
) -> int:
    """Parameters of the largest network of a size: the supernet, or the evaluation network of
    the all ``sep_conv_5x5`` genotype with the auxiliary head, whichever is larger."""
    sep_5x5 = OPS.index("sep_conv_5x5")
    widest = (0, sep_5x5, 1, sep_5x5) * (NODES * len(CELLS))
    network, _ = _network_costs(  # parameters do not depend on the input size
        widest, channels, cells_per_stage, num_classes, 32, input_channels, auxiliary=True
    )
    supernet = supernet_params(
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_channels=input_channels,
    )
    return max(network, supernet)


def check_network_size(
    *, channels: int, cells_per_stage: int, num_classes: int = 10, input_channels: int = 3
) -> None:
    """A :class:`ConfigError` for a size whose networks cannot be built (the limits of
    :mod:`pmfnas.spaces.limits`, the largest network counted by :func:`largest_params`); the
    message states the widest network that can be built at that depth. Any width builds: the
    factorized reductions only ever halve the doubled widths 2C and 4C."""
    limits.check_network_size(
        f"a DARTS network of C={channels}, {cells_per_stage} cells per stage, {num_classes} "
        "classes",
        largest_params,
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_channels=input_channels,
    )


def check_input_size(size: int, *, auxiliary: bool = False) -> None:
    """A :class:`ConfigError` unless ``size`` fits a DARTS network: a positive multiple of 4, as
    each reduction's factorized halves agree only on even sides; with the auxiliary head also a
    side of 8 to 10 after the two reductions (see :data:`AUX_SIDES`), i.e. 32, 36 or 40."""
    if size < 4 or size % 4:
        raise ConfigError(
            f"input size {size} does not fit a DARTS network: its two reduction cells need a "
            "positive multiple of 4"
        )
    if auxiliary and size // 4 not in AUX_SIDES:
        raise ConfigError(
            f"input size {size} does not fit DARTS' CIFAR auxiliary head, which needs "
            f"{AUX_SIDES.start} to {AUX_SIDES.stop - 1} pixels after two reductions "
            "(an input of 32, 36 or 40)"
        )
