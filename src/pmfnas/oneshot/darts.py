"""DARTS (Liu, Simonyan and Yang, ICLR 2019), first order: every edge is the softmax(α) mixture
of its operations; each step updates α on a valid batch, then w on a train batch.

On NAS-Bench-201 it is known to collapse into cells of parameter-free operations (the benchmark's
paper reports 54.30 % CIFAR-10 test accuracy): the collapse is part of what the one-shot benchmark
measures, so nothing here guards against it.
"""

from __future__ import annotations

from typing import ClassVar

from pmfnas.oneshot.base import ONESHOT, OneShotMethod
from pmfnas.oneshot.trainer import Batch, SupernetTrainer


@ONESHOT.register("darts")
class Darts(OneShotMethod):
    """First-order DARTS (the reference profile's 50 epochs)."""

    name: ClassVar[str] = "darts"
    epochs: ClassVar[int] = 50

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        trainer.alpha_step(trainer.loss(valid, weights=trainer.alpha.softmax(dim=1)))
        trainer.weight_step(train, weights=trainer.alpha.softmax(dim=1))
