"""GDAS (Dong and Yang, CVPR 2019): each step samples one operation per edge from the
Gumbel-softmax of α and runs only that one; the hard one-hot sample carries the gradient of its
soft relaxation (straight-through), so α learns at the cost of a single path.

The temperature falls linearly from ``tau_max`` in the first epoch to ``tau_min`` in the last
(10 to 0.1 in the reference profile, over 250 epochs). w and α are updated on samples of their
own, drawn from torch's generator, which the driver seeds per epoch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from pmfnas.errors import ConfigError
from pmfnas.oneshot.base import ONESHOT, OneShotMethod
from pmfnas.oneshot.trainer import Batch, SupernetTrainer


@ONESHOT.register("gdas")
class Gdas(OneShotMethod):
    """Gumbel-softmax hard sampling with a linearly falling temperature."""

    name: ClassVar[str] = "gdas"
    epochs: ClassVar[int] = 250

    def __init__(self, tau_max: float = 10.0, tau_min: float = 0.1) -> None:
        if not tau_max >= tau_min > 0:
            raise ConfigError(f"gdas needs tau_max >= tau_min > 0, got {tau_max}, {tau_min}")
        self.tau_max, self.tau_min = tau_max, tau_min

    def params(self) -> dict[str, Any]:
        return {"tau_max": self.tau_max, "tau_min": self.tau_min}

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        tau = self.tau_max - (self.tau_max - self.tau_min) * progress
        weights, path = hard_sample(trainer.alpha, tau)
        trainer.weight_step(train, weights=weights, path=path)
        weights, path = hard_sample(trainer.alpha, tau)
        trainer.alpha_step(trainer.loss(valid, weights=weights, path=path))


def hard_sample(alpha: torch.Tensor, tau: float) -> tuple[torch.Tensor, list[int]]:
    """A straight-through Gumbel-softmax sample of one operation per row of ``alpha``: the
    one-hot weights (with the soft sample's gradient) and the chosen indices."""
    gumbel = -torch.empty_like(alpha).exponential_().log()
    soft = ((alpha.log_softmax(dim=1) + gumbel) / tau).softmax(dim=1)
    index = soft.argmax(dim=1)
    hard = F.one_hot(index, alpha.shape[1]).to(soft.dtype)
    return hard - soft.detach() + soft, index.tolist()
