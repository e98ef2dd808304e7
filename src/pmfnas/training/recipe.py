"""The training recipe: NAS-Bench-201's hyper-parameters by default, every one adjustable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from pmfnas.errors import ConfigError


@dataclass(frozen=True)
class TrainingRecipe:
    """How a network is trained (NB201: SGD with Nesterov momentum, cosine schedule, batch 256).

    ``channels`` and ``cells_per_stage`` are the network size, and ``fraction`` (share of the
    training images) and ``resolution`` (pixels per side, 0: as stored) the data, used when a
    fidelity does not set its own: a search on a large dataset trains on a reduced setting
    (:mod:`pmfnas.evaluators.setting`). ``valid_images`` and ``test_images`` cap the validation
    and test parts (0: all of them), so that evaluating every training stays cheap.
    The learning rate follows a cosine from ``lr`` to 0 over the epochs of each training
    (stepped every batch), so a 12-epoch fidelity is a complete short schedule, as NB201's
    12-epoch runs are. ``augment`` applies the random crop (and, for natural images, the
    horizontal flip) of NB201.
    """

    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    augment: bool = True
    channels: int = 16
    cells_per_stage: int = 5
    eval_batch_size: int = 1024
    fraction: float = 1.0
    resolution: int = 0
    valid_images: int = 0
    test_images: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "channels", "cells_per_stage", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ConfigError("the recipe needs lr > 0, 0 <= momentum < 1 and weight_decay >= 0")
        if (
            not 0 < self.fraction <= 1
            or min(self.resolution, self.valid_images, self.test_images) < 0
        ):
            raise ConfigError(
                "the recipe needs 0 < fraction <= 1 and resolution, valid_images, test_images >= 0"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def optimizer(
        self, model: nn.Module, steps: int
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """SGD and its per-batch cosine schedule over ``steps`` batches."""
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov and self.momentum > 0,
            weight_decay=self.weight_decay,
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
        return optimizer, schedule
