"""What every space's supernet shares: batch statistics only, and one check of its forward call.

A one-shot supernet (:meth:`pmfnas.spaces.oneshot.OneShotSpace.supernet`) normalises by each
batch's own statistics, in training and evaluation alike: running statistics gathered under
ever-changing mixtures and paths describe none of the cells a method reads off it. Its forward
pass takes edge weights (choice points x candidates), a path (one candidate per choice point) or
both; anything else is one clear :class:`~pmfnas.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pmfnas.errors import ConfigError


def use_batch_statistics(net: nn.Module) -> None:
    """Make every batch norm of ``net`` normalise by the batch's statistics, and keep none."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.track_running_stats = False
            module.running_mean = module.running_var = module.num_batches_tracked = None


def check_forward(
    weights: torch.Tensor | None, path: Sequence[int] | None, choice_points: int, candidates: int
) -> None:
    """Refuse a forward call without weights and path, or with either of the wrong shape."""
    if weights is None and path is None:
        raise ConfigError("the supernet needs edge weights, a path, or both")
    if weights is not None and tuple(weights.shape) != (choice_points, candidates):
        raise ConfigError(
            f"edge weights must be {choice_points} x {candidates}, got {tuple(weights.shape)}"
        )
    if path is not None and len(path) != choice_points:
        raise ConfigError(f"a path names {choice_points} operations, got {len(path)}")
    if path is not None and not all(0 <= c < candidates for c in path):
        raise ConfigError(f"a path's candidates lie in 0..{candidates - 1}, got {tuple(path)}")
