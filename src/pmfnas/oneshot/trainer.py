"""The state every one-shot method shares: the supernet's weights w, the architecture parameters α,
their optimisers and the batches they learn from.

The train part of the data updates w, the valid part α (and measures cells), as in DARTS. Batches
of an epoch are drawn with a generator seeded by (seed, epoch), so a search resumed at an epoch
boundary draws the batches the uninterrupted search would have drawn.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pmfnas.data import ImageDataset
from pmfnas.errors import ConfigError
from pmfnas.oneshot.recipe import OneShotRecipe
from pmfnas.spaces.oneshot import OneShotSpace
from pmfnas.training.loop import Device, epoch_generator

Batch = tuple[torch.Tensor, torch.Tensor]


class SupernetTrainer:
    """A supernet with its α, trained for ``epochs`` epochs of ``recipe`` on ``data``."""

    def __init__(
        self,
        space: OneShotSpace,
        data: ImageDataset,
        recipe: OneShotRecipe,
        *,
        epochs: int,
        seed: int,
        run: Device,
    ) -> None:
        if not data.has("valid"):
            raise ConfigError("one-shot search needs a valid part to learn α from (a split)")
        self.space, self.data, self.recipe, self.run, self.seed = space, data, recipe, run, seed
        self.steps = len(data.part("train")[1]) // recipe.batch_size
        if self.steps < 1 or len(data.part("valid")[1]) < recipe.batch_size:
            raise ConfigError(
                f"the train and valid parts need at least one batch of {recipe.batch_size} images"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = space.supernet(
                channels=recipe.channels,
                cells_per_stage=recipe.cells_per_stage,
                num_classes=data.num_classes,
                input_channels=data.channels,
            ).to(run.device)
            shape = (space.choice_points, len(space.candidates))
            self.alpha = nn.Parameter(1e-3 * torch.randn(shape).to(run.device))
        self.w_optimizer = torch.optim.SGD(
            self.net.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            weight_decay=recipe.weight_decay,
        )
        self.w_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.w_optimizer, T_max=max(1, epochs * self.steps), eta_min=recipe.lr_min
        )
        self.alpha_optimizer = torch.optim.Adam(
            [self.alpha],
            lr=recipe.alpha_lr,
            betas=(recipe.alpha_beta1, recipe.alpha_beta2),
            weight_decay=recipe.alpha_weight_decay,
        )

    def batches(self, epoch: int) -> Iterator[tuple[Batch, Batch]]:
        """The epoch's (train batch, valid batch) pairs; the valid part cycles if it is smaller."""
        generator = epoch_generator(self.seed, epoch)

        def part(name: str) -> Iterator[Batch]:
            return self.data.batches(
                name,
                self.recipe.batch_size,
                shuffle=True,
                augment=self.recipe.augment,
                generator=generator,
                device=self.run.device,
                drop_last=True,  # batch statistics of a one-image batch are undefined
            )

        valid = itertools.chain.from_iterable(part("valid") for _ in itertools.count())
        return zip(part("train"), valid, strict=False)  # the valid part never runs out

    def loss(
        self,
        batch: Batch,
        weights: torch.Tensor | None = None,
        path: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Cross-entropy of the supernet under ``weights`` and/or ``path``, with its graph."""
        x, y = batch
        self.net.train()
        with self.run.autocast():
            logits = self.net(self.run.prepare(x), weights=weights, path=path)
        return F.cross_entropy(logits.float(), y)

    def weight_step(
        self,
        batch: Batch,
        weights: torch.Tensor | None = None,
        path: Sequence[int] | None = None,
    ) -> float:
        """One SGD step of w on a train batch (``weights`` are taken as constants)."""
        loss = self.loss(batch, None if weights is None else weights.detach(), path)
        self.w_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.recipe.grad_clip)
        self.w_optimizer.step()
        self.w_schedule.step()
        return float(loss.detach())

    def alpha_step(self, loss: torch.Tensor) -> None:
        """One Adam step of α on ``loss`` (a valid-batch loss that depends on α); w is untouched."""
        self.alpha_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=[self.alpha])
        self.alpha_optimizer.step()

    @torch.no_grad()
    def measure(
        self,
        path: Sequence[int] | None = None,
        weights: torch.Tensor | None = None,
        images: int | None = None,
    ) -> dict[str, float]:
        """Validation accuracy (%) and loss of the supernet on a cell's ``path`` (or under
        ``weights``), on ``images`` valid images (default ``recipe.eval_images``, 0: all).

        Every measurement sees the same images in the same batches: a fixed shuffle (seeded
        by the search's seed), since batch statistics of an unshuffled batch (images stored
        class by class) would normalise the class away.
        """
        limit = images or self.recipe.eval_images or len(self.data.part("valid")[1])
        correct, loss_sum, seen = 0, 0.0, 0
        self.net.eval()
        batches = self.data.batches(
            "valid",
            self.recipe.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
            device=self.run.device,
        )
        for x, y in batches:
            x, y = x[: limit - seen], y[: limit - seen]
            with self.run.autocast():
                logits = self.net(self.run.prepare(x), weights=weights, path=path).float()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if seen >= limit:
                break
        return {"val_acc": 100 * correct / seen, "val_loss": loss_sum / seen}

    def probabilities(self) -> np.ndarray:
        """softmax(α) per choice point, as a float64 array."""
        return self.alpha.detach().softmax(dim=1).double().cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "alpha": self.alpha.detach().cpu(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "w_schedule": self.w_schedule.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        with torch.no_grad():
            self.alpha.copy_(state["alpha"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.w_schedule.load_state_dict(state["w_schedule"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
