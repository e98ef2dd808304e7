"""DARTS (Liu, Simonyan and Yang, ICLR 2019): every edge is the softmax(α) mixture of its
operations; each step updates α on a valid batch, then w on a train batch.

``order=1`` takes α's gradient at the current w. ``order=2`` takes it at the weights one virtual
SGD step ahead, w' = w - ξ ∇w L_train (ξ the current learning rate, weight decay included), and
corrects by the mixed second derivative, approximated by finite differences around w with
ε = r / ||∇w' L_valid|| (r = 0.01):

    ∇α L_valid(w', α) - ξ (∇α L_train(w⁺, α) - ∇α L_train(w⁻, α)) / 2ε,   w± = w ± ε ∇w' L_valid.

On NAS-Bench-201 DARTS is known to collapse into cells of parameter-free operations (the
benchmark's paper reports 54.30 % CIFAR-10 test accuracy): the collapse is part of what the
one-shot benchmark measures, so nothing here guards against it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from pmfnas.errors import ConfigError
from pmfnas.oneshot.base import ONESHOT, OneShotMethod
from pmfnas.oneshot.trainer import Batch, SupernetTrainer

R = 0.01
"""The finite-difference radius of the second-order step, relative to the gradient's norm."""


@ONESHOT.register("darts")
class Darts(OneShotMethod):
    """DARTS of the first or second order (the reference profile's 50 epochs)."""

    name: ClassVar[str] = "darts"
    epochs: ClassVar[int] = 50

    def __init__(self, order: int = 1) -> None:
        if order not in (1, 2):
            raise ConfigError(f"darts order must be 1 or 2, got {order}")
        self.order = order

    def params(self) -> dict[str, Any]:
        return {"order": self.order}

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        if self.order == 1:
            trainer.alpha_step(trainer.loss(valid, weights=trainer.alpha.softmax(dim=1)))
        else:
            _unrolled_alpha_step(trainer, train, valid)
        trainer.weight_step(train, weights=trainer.alpha.softmax(dim=1))


def _unrolled_alpha_step(trainer: SupernetTrainer, train: Batch, valid: Batch) -> None:
    params = [p for p in trainer.net.parameters()]
    saved = [p.detach().clone() for p in params]
    xi = trainer.w_schedule.get_last_lr()[0]
    decay = trainer.recipe.weight_decay
    mixture = trainer.alpha.softmax(dim=1)
    grads = torch.autograd.grad(trainer.loss(train, weights=mixture.detach()), params)
    with torch.no_grad():  # w' = w - ξ (∇w L_train + λ w)
        for p, g in zip(params, grads, strict=True):
            p.sub_(xi * (g + decay * p))
    valid_loss = trainer.loss(valid, weights=trainer.alpha.softmax(dim=1))
    alpha_grad, *w_grads = torch.autograd.grad(valid_loss, [trainer.alpha, *params])
    norm = torch.sqrt(sum((g * g).sum() for g in w_grads))
    eps = R / max(float(norm), 1e-12)

    def train_alpha_grad(sign: float) -> torch.Tensor:
        with torch.no_grad():
            for p, w, g in zip(params, saved, w_grads, strict=True):
                p.copy_(w + sign * eps * g)
        loss = trainer.loss(train, weights=trainer.alpha.softmax(dim=1))
        return torch.autograd.grad(loss, [trainer.alpha])[0]

    hessian = (train_alpha_grad(1.0) - train_alpha_grad(-1.0)) / (2 * eps)
    with torch.no_grad():
        for p, w in zip(params, saved, strict=True):
            p.copy_(w)
    trainer.alpha_optimizer.zero_grad(set_to_none=True)
    trainer.alpha.grad = alpha_grad - xi * hessian
    trainer.alpha_optimizer.step()
