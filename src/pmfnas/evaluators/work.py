"""How much work a real evaluation does, in FLOPs, and how many seconds it is expected to take.

A network's forward FLOPs per image come from its space
(:meth:`~pmfnas.spaces.base.SearchSpace.forward_flops`; NAS-Bench-201 counts one per
multiply-accumulate of convolutions and linear layers, see :mod:`pmfnas.spaces.nb201.costs`). A training step costs :data:`TRAIN_PASSES`
forward passes per image (the backward pass computes two products per forward one: the gradients
of the inputs and of the weights); validating or testing an image costs one. These counts are a
model of the work, not a measurement: they depend only on the network, the data sizes and the
epochs, so a budget in FLOPs is spent identically on every machine and under any load.

Seconds are learned instead: :class:`EpochTimes` fits, per training setting, the measured seconds
of an epoch against the network's FLOPs, so the first training of a new cell is predicted from
the cells already trained at that setting, and the first one of a setting from a probe.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

TRAIN_PASSES = 3.0
"""Forward-pass equivalents of one training step per image (forward + a twice as costly backward)."""


def epoch_flops(forward: float, train_images: int, valid_images: int) -> float:
    """One epoch: a training step on every training image, then a validation pass."""
    return forward * (TRAIN_PASSES * train_images + valid_images)


class EpochTimes:
    """Seconds per epoch of each training setting as an affine function of forward FLOPs.

    A setting (a hashable key: data share, resolution, network size) collects the measured
    seconds of every epoch trained at it. With epochs of two or more different networks the
    prediction is the least-squares line (per-batch overhead + time per FLOP); with one network
    it scales that network's mean time by FLOPs, which errs on the high side for bigger networks
    (the risky direction for a budget). A *probe* (a few timed batches) stands in for a setting
    until its first epoch is measured.
    """

    def __init__(self) -> None:
        self._epochs: dict[Hashable, list[tuple[float, float]]] = {}
        self._probes: dict[Hashable, tuple[float, float]] = {}

    def add(self, key: Hashable, flops: float, seconds: float) -> None:
        """One measured epoch of a network of ``flops`` forward FLOPs at setting ``key``."""
        self._epochs.setdefault(key, []).append((flops, seconds))

    def add_probe(self, key: Hashable, flops: float, seconds: float) -> None:
        """An estimated epoch from a probe, used only while ``key`` has no measured one."""
        self._probes[key] = (flops, seconds)

    def knows(self, key: Hashable) -> bool:
        return key in self._epochs or key in self._probes

    def predict(self, key: Hashable, flops: float) -> float | None:
        """Expected seconds of one epoch at ``key`` for a network of ``flops``; ``None`` if
        nothing is known of that setting."""
        points = self._epochs.get(key) or ([self._probes[key]] if key in self._probes else [])
        if not points:
            return None
        x, y = np.array(points).T
        if np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            if slope > 0:
                return float(max(intercept + slope * flops, y.min() * flops / x.max()))
        return float(y.mean() * flops / x.mean())
