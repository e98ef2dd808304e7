"""Training recipes: NAS-Bench-201's hyper-parameters by default, DARTS' by name, every one adjustable."""

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

    The regularisers of DARTS' evaluation training are off by default: ``grad_clip`` (the most
    gradient norm, 0: no clipping), ``cutout`` (side of the square zeroed in each training image,
    0: none), ``drop_path`` (the drop-path probability the last epoch reaches, rising linearly
    from 0; the network must have a ``drop_path`` attribute) and ``auxiliary_weight`` (the weight
    of the auxiliary head's loss; the network must have that head).
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
    grad_clip: float = 0.0
    cutout: int = 0
    drop_path: float = 0.0
    auxiliary_weight: float = 0.0

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
        if min(self.grad_clip, self.cutout, self.auxiliary_weight) < 0:
            raise ConfigError("the recipe needs grad_clip, cutout and auxiliary_weight >= 0")
        if not 0 <= self.drop_path < 1:
            raise ConfigError(f"drop_path must lie in [0, 1), got {self.drop_path}")

    def as_dict(self) -> dict[str, Any]:
        """The fields, the regularisers only when on: what NB201 trainings record (their
        checkpoints' and stored studies' descriptions) stays what it was before they existed."""
        return {k: v for k, v in asdict(self).items() if k not in REGULARISERS or v}

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


REGULARISERS = ("grad_clip", "cutout", "drop_path", "auxiliary_weight")
"""The fields of DARTS' regularisers, off by default."""

RECIPES: dict[str, TrainingRecipe] = {
    "nb201": TrainingRecipe(),
    "darts": TrainingRecipe(
        batch_size=96,
        lr=0.025,
        nesterov=False,
        weight_decay=3e-4,
        channels=36,
        cells_per_stage=6,
        grad_clip=5.0,
        cutout=16,
        drop_path=0.2,
        auxiliary_weight=0.4,
    ),
}
"""Named recipes: NB201's, and DARTS' evaluation training (Liu et al. 2019: 20 cells at C=36,
batch 96, SGD with plain momentum from lr 0.025 on a cosine to 0, weight decay 3e-4, gradient
norm clipped at 5, cutout 16, drop-path rising to 0.2, auxiliary loss weighted 0.4)."""

RECIPE_EPOCHS = {"nb201": 12, "darts": 600}
"""Epochs a named recipe trains unless told otherwise: NB201's 12-epoch schedule, DARTS' 600."""


def named_recipe(name: str) -> TrainingRecipe:
    """The recipe called ``name`` (:data:`RECIPES`); a :class:`ConfigError` for another name."""
    if name not in RECIPES:
        raise ConfigError(f"unknown training recipe {name!r} (known: {', '.join(RECIPES)})")
    return RECIPES[name]
