"""Analytic parameter and FLOPs counts of NAS-Bench-201 networks, vectorised over cells.

Pure NumPy, so a strategy can rank or filter all 15,625 cells by size in milliseconds without
building a network. Costs are additive: a fixed part (stem, two residual reductions, head) plus,
per stage, ``cells_per_stage`` times the sum over the six edges of that edge's op cost at the
stage's width and resolution.

Convention (the one of NB201's records, reproduced to their 5 printed decimals for archs 0, 11 and
284 on CIFAR-10, CIFAR-100 and ImageNet16-120):

* params: every parameter, batch-norm affine weights and the classifier bias included;
* FLOPs: multiply-accumulates of convolutions and of the linear classifier, plus one per output of
  a layer with a bias (only the classifier has one); pooling, batch norm, ReLU, ``none`` and the
  additions at nodes count nothing. Torch's ``FlopCounterMode`` reports 2 per MAC and no biases,
  see :func:`pmfnas.spaces.nb201.network.count_flops`.

Both are returned in millions, as NB201 stores them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces import limits
from pmfnas.spaces.nb201.cell import NUM_EDGES, OPS
from pmfnas.spaces.nb201.order import all_cells

DATASET_SHAPES: dict[str, tuple[int, int]] = {
    "cifar10": (10, 32),
    "cifar100": (100, 32),
    "ImageNet16-120": (120, 16),
}
"""NB201 dataset → (number of classes, input resolution): what sizes a network for it."""

_KERNEL_AREA = np.array([0, 0, 1, 9, 0], dtype=np.int64)
"""k² of each op's convolution (none, skip, conv 1x1, conv 3x3, avg pool); 0 = no parameters."""


def _op_costs(width: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(params, MACs) of each op at one stage: a ReLU-conv-BN has a k²·c² conv and a 2c BN."""
    params = _KERNEL_AREA * width * width + 2 * width * (_KERNEL_AREA > 0)
    flops = _KERNEL_AREA * width * width * resolution * resolution
    return params, flops


def _reduction_costs(c_in: int, c_out: int, resolution: int) -> tuple[int, int]:
    """(params, MACs) of a residual reduction whose output is ``resolution``² pixels."""
    macs_per_pixel = 9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out
    return macs_per_pixel + 4 * c_out, macs_per_pixel * resolution * resolution


def _stem_and_head_params(channels: int, num_classes: int, input_channels: int) -> int:
    """The stem's 3x3 conv and BN, and the head's BN and linear classifier."""
    stem = 9 * input_channels * channels + 2 * channels
    head = 2 * (4 * channels) + 4 * channels * num_classes + num_classes
    return stem + head


def largest_params(
    channels: int, cells_per_stage: int, num_classes: int = 10, input_channels: int = 3
) -> int:
    """Parameters of the largest NB201 network of a size: every edge a 3x3 convolution.

    Python integers, so an absurd size gives a huge count, never an overflow.
    """
    widths = (channels, 2 * channels, 4 * channels)
    conv = int(_KERNEL_AREA[OPS.index("nor_conv_3x3")])
    cell = sum(NUM_EDGES * (conv * w * w + 2 * w) for w in widths)
    reductions = sum(_reduction_costs(widths[s - 1], widths[s], 1)[0] for s in (1, 2))
    fixed = _stem_and_head_params(channels, num_classes, input_channels) + reductions
    return fixed + cells_per_stage * cell


def check_network_size(
    *, channels: int, cells_per_stage: int, num_classes: int = 10, input_channels: int = 3
) -> None:
    """A :class:`ConfigError` for a size whose networks cannot be built: a size below 1, more
    than :data:`~pmfnas.spaces.limits.MAX_CELLS_PER_STAGE` cells per stage, or a largest cell of
    more than :data:`~pmfnas.spaces.limits.MAX_PARAMS` parameters (judged by the largest cell,
    so a size fits every cell of a search or none). The message states the widest network that
    can be built at that depth."""
    limits.check_network_size(
        f"an NB201 network of C={channels}, N={cells_per_stage}, {num_classes} classes",
        largest_params,
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_channels=input_channels,
    )


def check_input_size(size: int) -> None:
    """A :class:`ConfigError` unless ``size`` fits an NB201 network: a positive multiple of 4,
    since each reduction halves the resolution and its two branches agree only on even sizes."""
    if size < 4 or size % 4:
        raise ConfigError(
            f"input size {size} does not fit an NB201 network: its two stride-2 reductions "
            "need a positive multiple of 4"
        )


def _check_cells(cells: np.ndarray) -> np.ndarray:
    cells = np.asarray(cells)
    if cells.ndim != 2 or cells.shape[1] != NUM_EDGES or not np.issubdtype(cells.dtype, np.integer):
        raise ArchitectureError(f"expected an (n, {NUM_EDGES}) integer array of NB201 cells")
    if cells.size and (cells.min() < 0 or cells.max() >= len(OPS)):
        raise ArchitectureError(f"NB201 op ids must lie in 0..{len(OPS) - 1}")
    return cells.astype(np.int64)


def params_and_flops(
    cells: np.ndarray,
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
    input_size: int = 32,
    input_channels: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs (millions) of the NB201 network of each row of ``cells`` (n x 6 op ids).

    ``input_size`` must be a positive multiple of 4: each reduction halves the resolution, and
    its two branches only agree in size on even inputs.
    """
    cells = _check_cells(cells)
    check_input_size(input_size)
    widths = (channels, 2 * channels, 4 * channels)
    resolutions = (input_size, input_size // 2, input_size // 4)

    params = _stem_and_head_params(channels, num_classes, input_channels)
    flops = 9 * input_channels * channels * input_size * input_size
    flops += widths[-1] * num_classes + num_classes
    for stage in (1, 2):
        p, f = _reduction_costs(widths[stage - 1], widths[stage], resolutions[stage])
        params, flops = params + p, flops + f

    cell_params = np.zeros(len(cells), dtype=np.int64)
    cell_flops = np.zeros(len(cells), dtype=np.int64)
    for width, resolution in zip(widths, resolutions, strict=True):
        op_params, op_flops = _op_costs(width, resolution)
        cell_params += op_params[cells].sum(axis=1)
        cell_flops += op_flops[cells].sum(axis=1)
    total_params = params + cells_per_stage * cell_params
    total_flops = flops + cells_per_stage * cell_flops
    return total_params / 1e6, total_flops / 1e6


@lru_cache(maxsize=16)
def all_params_and_flops(
    num_classes: int = 10,
    input_size: int = 32,
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_channels: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs (millions) of all 15,625 cells in NATS index order; read-only, cached."""
    cells = all_cells()
    params, flops = params_and_flops(
        cells,
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_size=input_size,
        input_channels=input_channels,
    )
    params.flags.writeable = False
    flops.flags.writeable = False
    return params, flops
