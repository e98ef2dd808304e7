"""DrNAS (Chen, Wang, Cheng, Tang and Hsieh, ICLR 2021): each edge's operation weights are a
sample of a Dirichlet distribution whose concentration β = ELU(α) + 1 is learnt through the
sample's reparameterisation gradient, with an L2 penalty ``reg_scale * sum(β²)`` that keeps the
concentrations from growing without bound (our reading of the published regulariser).

w and α are each updated under a sample of their own; the reference profile trains 100 epochs
with weight decay 3e-4 on w. The derived cell is the argmax of the Dirichlet mean, which is the
argmax of α (ELU is increasing), as the default rule reads it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from pmfnas.errors import ConfigError
from pmfnas.oneshot.base import ONESHOT, OneShotMethod
from pmfnas.oneshot.trainer import Batch, SupernetTrainer


@ONESHOT.register("drnas")
class Drnas(OneShotMethod):
    """Dirichlet-distributed operation weights with an L2 penalty on their concentration."""

    name: ClassVar[str] = "drnas"
    epochs: ClassVar[int] = 100
    recipe_changes: ClassVar[dict[str, Any]] = {"weight_decay": 3e-4}

    def __init__(self, reg_scale: float = 1e-3) -> None:
        if reg_scale < 0:
            raise ConfigError(f"drnas needs reg_scale >= 0, got {reg_scale}")
        self.reg_scale = reg_scale

    def params(self) -> dict[str, Any]:
        return {"reg_scale": self.reg_scale}

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        trainer.weight_step(train, weights=self._sample(trainer))
        concentration = F.elu(trainer.alpha) + 1
        loss = trainer.loss(valid, weights=self._sample(trainer))
        trainer.alpha_step(loss + self.reg_scale * concentration.pow(2).sum())

    @staticmethod
    def _sample(trainer: SupernetTrainer) -> torch.Tensor:
        concentration = F.elu(trainer.alpha) + 1
        return torch.distributions.Dirichlet(concentration).rsample()
