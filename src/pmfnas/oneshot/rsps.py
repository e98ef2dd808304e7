"""Random search with parameter sharing (RSPS; Li and Talwalkar, UAI 2019): each step trains w on
the path of one random cell; the search returns the best of ``candidates`` random cells by the
supernet's validation accuracy, each measured on one batch of valid images as in XAutoDL's NB201
script.

The candidates are one fixed sample (seeded by the search's seed), measured after every epoch, so
each epoch's record is the cell the search would return if it ended there.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from pmfnas.errors import ConfigError
from pmfnas.oneshot.base import ONESHOT, OneShotMethod
from pmfnas.oneshot.trainer import Batch, SupernetTrainer
from pmfnas.types import Arch


@ONESHOT.register("rsps")
class Rsps(OneShotMethod):
    """Uniform single-path training, then the best of ``candidates`` random cells."""

    name: ClassVar[str] = "rsps"
    epochs: ClassVar[int] = 50

    def __init__(self, candidates: int = 100) -> None:
        if candidates < 1:
            raise ConfigError(f"rsps needs at least one candidate, got {candidates}")
        self.candidates = candidates

    def params(self) -> dict[str, Any]:
        return {"candidates": self.candidates}

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        rng = np.random.default_rng(int(torch.randint(2**62, ())))  # from the epoch's seed
        trainer.weight_step(train, path=trainer.space.path(trainer.space.sample(rng)))

    def derive(self, trainer: SupernetTrainer) -> Arch:
        rng = np.random.default_rng(trainer.seed)
        cells = [trainer.space.sample(rng) for _ in range(self.candidates)]
        batch = trainer.recipe.batch_size
        scores = [trainer.measure(trainer.space.path(c), images=batch)["val_acc"] for c in cells]
        return cells[int(np.argmax(scores))]  # the first of equals
