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
  see :func:`pmfnas.spaces.networks.count_flops`.

Both are returned in millions, as NB201 stores them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pmfnas.errors import ArchitectureError
from pmfnas.spaces.nb201 import NUM_EDGES, OPS, NB201Space

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
    if input_size <= 0 or input_size % 4:
        raise ValueError(f"input_size must be a positive multiple of 4, got {input_size}")
    widths = (channels, 2 * channels, 4 * channels)
    resolutions = (input_size, input_size // 2, input_size // 4)

    head = 2 * widths[-1] + widths[-1] * num_classes + num_classes
    params = 9 * input_channels * channels + 2 * channels + head
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
    cells = np.array(list(NB201Space()), dtype=np.int64)
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
