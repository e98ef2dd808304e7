"""The sizes pmfnas builds networks at, the same for every space: a size beyond them is a typo
(``--channels 20000``), refused in one line before torch tries to allocate its weights."""

from __future__ import annotations

from collections.abc import Callable

from pmfnas.errors import ConfigError

MAX_PARAMS = 10**9
"""The largest network pmfnas builds: a billion parameters are 4 GB of float32 weights, and
training needs as much again for gradients and for momentum."""

MAX_CELLS_PER_STAGE = 100
"""The deepest network pmfnas builds: far deeper than any search uses (NB201 5 cells per stage,
DARTS 6), and each cell is a Python module to build."""


def check_sizes_positive(
    *, channels: int, cells_per_stage: int, num_classes: int, input_channels: int
) -> None:
    """A :class:`ConfigError` for a size below 1 or more than :data:`MAX_CELLS_PER_STAGE`
    cells per stage."""
    sizes = {
        "channels": channels,
        "cells_per_stage": cells_per_stage,
        "num_classes": num_classes,
        "input_channels": input_channels,
    }
    for name, value in sizes.items():
        if value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value}")
    if cells_per_stage > MAX_CELLS_PER_STAGE:
        raise ConfigError(
            f"{cells_per_stage} cells per stage: pmfnas builds at most {MAX_CELLS_PER_STAGE}"
        )


def check_network_size(
    network: str,
    largest: Callable[[int, int, int, int], int],
    *,
    channels: int,
    cells_per_stage: int,
    num_classes: int,
    input_channels: int,
) -> None:
    """A :class:`ConfigError` for sizes :func:`check_sizes_positive` refuses, or when
    ``largest(channels, cells_per_stage, num_classes, input_channels)``, the parameters of the
    largest network of a space at those sizes, exceed :data:`MAX_PARAMS`; the message names the
    ``network`` and the widest one that can be built at that depth (found by bisection: the
    count grows with the width)."""
    check_sizes_positive(
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        input_channels=input_channels,
    )
    count = largest(channels, cells_per_stage, num_classes, input_channels)
    if count <= MAX_PARAMS:
        return
    low, high = 0, channels  # the widest C that fits lies in [low, high)
    while high - low > 1:
        mid = (low + high) // 2
        fits = largest(mid, cells_per_stage, num_classes, input_channels) <= MAX_PARAMS
        low, high = (mid, high) if fits else (low, mid)
    widest = f"; at {cells_per_stage} cells per stage the widest is C={low}" if low else ""
    raise ConfigError(
        f"{network} would hold up to {count / 1e6:,.0f} M parameters; pmfnas builds at most "
        f"{MAX_PARAMS / 1e6:,.0f} M{widest}"
    )
