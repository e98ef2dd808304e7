"""How a one-shot search trains its supernet weights and architecture parameters.

The defaults are the reference profile: the hyper-parameters of XAutoDL's NAS-Bench-201 one-shot
scripts (weights: SGD with Nesterov momentum 0.9, weight decay 5e-4, learning rate 0.025 on a
cosine down to 0.001, batch 64, gradient norm clipped at 5; α: Adam, learning rate 3e-4, betas
(0.5, 0.999), weight decay 1e-3), on the benchmark's supernet of C=16 and N=5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pmfnas.errors import ConfigError


@dataclass(frozen=True)
class OneShotRecipe:
    """The optimisers of w and α, the supernet's size and the batches (see the module)."""

    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    alpha_lr: float = 3e-4
    alpha_beta1: float = 0.5
    alpha_beta2: float = 0.999
    alpha_weight_decay: float = 1e-3
    channels: int = 16
    cells_per_stage: int = 5
    augment: bool = True
    eval_images: int = 0
    """Validation images on which a cell's supernet accuracy is measured (0: all of them)."""

    def __post_init__(self) -> None:
        for name in ("batch_size", "channels", "cells_per_stage"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.lr >= self.lr_min >= 0 or not self.alpha_lr > 0 or self.grad_clip <= 0:
            raise ConfigError("the one-shot recipe needs lr >= lr_min >= 0, alpha_lr > 0, clip > 0")
        if self.eval_images < 0:
            raise ConfigError(f"eval_images must be >= 0, got {self.eval_images}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
