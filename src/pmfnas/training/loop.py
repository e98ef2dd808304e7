"""The epoch loop: train, validate, record the learning curve, checkpoint, resume.

Randomness is fixed per epoch: epoch ``e`` shuffles, augments and cuts out with a generator
seeded from ``(seed, e)``, and the network's own draws (drop-path) come from torch's global
generators seeded from ``(seed, e)`` for the epoch (and restored after it), so a training resumed
from its checkpoint after epoch ``e`` draws exactly what the uninterrupted run would have drawn,
and on the CPU ends with the same weights. The drop-path probability of epoch ``e`` is set on
the network before it (DARTS' linear rise) and is a function of ``e`` alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from pmfnas.data import ImageDataset
from pmfnas.data.augment import cutout
from pmfnas.errors import ConfigError
from pmfnas.training.checkpoint import load_checkpoint, save_checkpoint
from pmfnas.training.recipe import TrainingRecipe


@dataclass(frozen=True)
class EpochProgress:
    """Where a running training is: ``batch`` of ``batches`` trained in epoch ``epoch``
    (1-based) of ``epochs``."""

    epoch: int
    epochs: int
    batch: int
    batches: int

    @property
    def done(self) -> float:
        """Epochs done, as a fraction while one runs."""
        return self.epoch - 1 + self.batch / self.batches


class TrainingWatcher(Protocol):
    """Hears a training's course as it runs, for people to follow it (``pmfnas train``'s epoch
    log, a search's live line). A protocol, so that a watcher need not import torch to be one."""

    def resumed(self, epochs: int, source: Path, own: bool) -> None:
        """The training continues after the ``epochs`` epochs saved in ``source``: its own
        checkpoint (``own``: it was interrupted) or a shorter training's of the same schedule."""

    def batch(self, at: EpochProgress) -> None:
        """A training batch is done."""

    def epoch(self, row: dict[str, float]) -> None:
        """An epoch is done (and saved, with a checkpoint): its row of the learning curve."""


@dataclass(frozen=True)
class FitResult:
    """A training: its per-epoch curve and the wall seconds it took (resumed parts too).
    ``base_seconds`` is the part of them spent by the shorter training it started from;
    ``stopped_after`` is set when ``stop`` ended it early: the epochs done, as a fraction of
    the batches of the epoch it was in (``curve`` holds the finished epochs only)."""

    curve: tuple[dict[str, float], ...]
    seconds: float
    base_seconds: float = 0.0
    stopped_after: float | None = None

    @property
    def last(self) -> dict[str, float]:
        return self.curve[-1]


@dataclass(frozen=True)
class Device:
    """Where and how batches run: mixed precision (bfloat16) and channels-last are for CUDA."""

    device: torch.device
    amp: bool
    channels_last: bool

    @classmethod
    def of(cls, name: str | torch.device, amp: bool | None = None) -> Device:
        """The device ``name`` (``cpu``, ``cuda`` or ``cuda:i``); a :class:`ConfigError` for
        any other name and for a CUDA device this machine does not have."""
        device = _device(name)
        cuda = device.type == "cuda"
        return cls(device, amp=cuda if amp is None else amp, channels_last=cuda)

    def autocast(self) -> Any:
        if not self.amp:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _device(name: str | torch.device) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {str(name)!r}: use cpu, cuda or cuda:<index>")
    if device.type == "cuda":
        count = torch.cuda.device_count()  # 0 without a GPU or a CUDA build of torch
        if count == 0:
            raise ConfigError(f"device {str(name)!r}: this machine has no CUDA GPU (use cpu)")
        if (device.index or 0) >= count:
            raise ConfigError(f"device {str(name)!r}: only cuda:0..cuda:{count - 1} exist")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's draws."""
    return seed * 100_003 + epoch


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch's shuffle and augmentation."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


LAYER_STREAM = 1 << 50
"""Offset of the seeds of the global generators (the network's draws) from those of the epoch
generators, so that the two streams differ."""


def train_batches(
    data: ImageDataset, recipe: TrainingRecipe, generator: torch.Generator, run: Device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch's shuffled, augmented training batches, drawn with ``generator``; with the
    recipe's cutout, each normalised batch then loses a square per image (DARTS cuts out after
    normalising, so the square is the dataset's mean colour)."""
    batches = data.batches(
        "train",
        recipe.batch_size,
        shuffle=True,
        augment=recipe.augment,
        generator=generator,
        device=run.device,
    )
    if not recipe.cutout:
        return batches
    return ((cutout(x, recipe.cutout, generator), y) for x, y in batches)


def train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    run: Device,
    recipe: TrainingRecipe | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch; its (detached) loss and logits. With a ``recipe`` whose
    ``auxiliary_weight`` is set, the loss adds that share of the auxiliary head's cross-entropy
    (read from the model's ``auxiliary_logits`` after the pass), and with its ``grad_clip`` the
    gradients' norm is clipped before the step."""
    recipe = recipe or TrainingRecipe()
    with run.autocast():
        logits = model(run.prepare(x))
        loss = F.cross_entropy(logits, y)
        auxiliary = getattr(model, "auxiliary_logits", None)
        if recipe.auxiliary_weight and auxiliary is not None:
            loss = loss + recipe.auxiliary_weight * F.cross_entropy(auxiliary, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if recipe.grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    return loss.detach(), logits.detach()


def drop_path_at(recipe: TrainingRecipe, epoch: int, horizon: int) -> float:
    """The drop-path probability of epoch ``epoch`` (0-based) of a ``horizon``-epoch schedule:
    DARTS' ``drop_path * epoch / epochs``, 0 in the first epoch."""
    return recipe.drop_path * epoch / horizon


def check_network(model: nn.Module, recipe: TrainingRecipe) -> None:
    """A :class:`ConfigError` unless ``model`` has what ``recipe`` regularises: a ``drop_path``
    attribute for drop-path, an auxiliary head for the auxiliary loss."""
    if recipe.drop_path and not hasattr(model, "drop_path"):
        raise ConfigError(
            f"the recipe's drop-path needs a network with drop-path (DARTS'), not a "
            f"{type(model).__name__}"
        )
    if recipe.auxiliary_weight and getattr(model, "auxiliary", None) is None:
        raise ConfigError(
            f"the recipe's auxiliary loss needs a network with an auxiliary head (DARTS' with "
            f"auxiliary=True), not this {type(model).__name__}"
        )


@contextmanager
def seeded_layers(seed: int, epoch: int, run: Device) -> Iterator[None]:
    """Torch's global generators (the CPU's and the run's GPU's) seeded for one epoch of
    ``seed``, and restored after it: the draws of the network's own random layers."""
    gpu = [run.device] if run.device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpu):
        value = LAYER_STREAM + epoch_seed(seed, epoch)
        torch.default_generator.manual_seed(value)
        for device in gpu:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(value)
        yield


def train_epoch(
    model: nn.Module,
    data: ImageDataset,
    recipe: TrainingRecipe,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    run: Device,
    on_batch: Callable[[int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, float] | None:
    """One pass over the training part; mean loss (the one minimised, the auxiliary head's
    share included) and accuracy (%) of the batches as trained. ``None`` when ``stop()`` said
    so after a batch (the epoch is then incomplete)."""
    model.train()
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    seen = 0
    for step, (x, y) in enumerate(train_batches(data, recipe, generator, run)):
        loss, logits = train_step(model, x, y, optimizer, run, recipe)
        schedule.step()
        loss_sum += loss.float() * len(y)  # summed on the device: no sync per batch
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if on_batch:
            on_batch(step + 1)
        if stop is not None and stop():
            return None
    return {"train_loss": float(loss_sum) / seen, "train_acc": 100 * float(correct) / seen}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ImageDataset,
    part: str,
    batch_size: int = 1024,
    run: Device | None = None,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy (%) of ``part`` in eval mode (running batch-norm stats)."""
    run = run or Device.of("cpu")
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in data.batches(part, batch_size, device=run.device):
        with run.autocast():
            logits = model(run.prepare(x)).float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {f"{part}_loss": loss_sum / seen, f"{part}_acc": 100 * correct / seen}


def fit(
    model: nn.Module,
    data: ImageDataset,
    recipe: TrainingRecipe,
    epochs: int,
    *,
    horizon: int | None = None,
    seed: int = 0,
    run: Device | None = None,
    checkpoint: Path | None = None,
    start_from: Path | None = None,
    checkpoint_config: dict[str, Any] | None = None,
    watcher: TrainingWatcher | None = None,
    stop: Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``model`` for the first ``epochs`` epochs of a ``horizon``-epoch schedule (default:
    the whole schedule), validating after each one when there is a valid part. ``stop()`` is
    asked after every batch; when it says so the training ends there (see :class:`FitResult`).

    With ``checkpoint``, the state (weights, optimizer, schedule, curve, seconds) is saved after
    every epoch, and a training whose checkpoint exists continues after its last saved epoch.
    Without one there, ``start_from`` (a shorter training's checkpoint of the same schedule) is
    where the training starts. Either must have been written with the same ``horizon``, ``seed``
    and ``checkpoint_config``; a damaged one is discarded with a warning (the training then
    starts without it). ``watcher`` hears where the training starts from, each batch and each
    epoch.
    """
    horizon = horizon or epochs
    if horizon < epochs:
        raise ConfigError(f"{epochs} epochs do not fit in a {horizon}-epoch schedule")
    run = run or Device.of("cpu")
    check_network(model, recipe)
    model.to(run.device)
    if run.channels_last:
        model.to(memory_format=torch.channels_last)
    steps = math.ceil(len(data.train_y) / recipe.batch_size)
    optimizer, schedule = recipe.optimizer(model, steps * horizon)
    config = {"horizon": horizon, "seed": seed, **(checkpoint_config or {})}
    curve: list[dict[str, float]] = []
    seconds = base = 0.0
    source, state = checkpoint, load_checkpoint(checkpoint, config) if checkpoint else None
    if state is None and start_from:  # no intact checkpoint of its own: from the shorter one
        source, state = start_from, load_checkpoint(start_from, config)
    if state is not None:
        if len(state["curve"]) > epochs:
            raise ConfigError(
                f"{source}: holds {len(state['curve'])} epochs, more than the {epochs} asked"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        curve, seconds = list(state["curve"]), state["seconds"]
        base = state.get("base_seconds", 0.0) if source == checkpoint else seconds
        if watcher:
            watcher.resumed(len(curve), source, own=source == checkpoint)
    for epoch in range(len(curve), epochs):
        start = time.perf_counter()

        def on_batch(step: int, number: int = epoch + 1) -> None:
            if watcher:
                watcher.batch(EpochProgress(number, epochs, step, steps))

        lr = schedule.get_last_lr()[0]
        generator = epoch_generator(seed, epoch)
        if recipe.drop_path:
            model.drop_path = drop_path_at(recipe, epoch, horizon)
        with seeded_layers(seed, epoch, run):
            row = train_epoch(
                model, data, recipe, optimizer, schedule, generator, run, on_batch, stop
            )
        if row is None:
            seconds += time.perf_counter() - start
            done = schedule.last_epoch / steps  # one scheduler step per batch
            return FitResult(tuple(curve), seconds, base, stopped_after=done)
        if data.has("valid"):
            row |= evaluate(model, data, "valid", recipe.eval_batch_size, run)
        row = {"epoch": epoch + 1, **row, "lr": lr, "seconds": time.perf_counter() - start}
        curve.append(row)
        if checkpoint:
            save_checkpoint(
                checkpoint,
                {
                    "config": config,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "curve": curve,
                    "seconds": seconds + time.perf_counter() - start,
                    "base_seconds": base,
                },
            )
        seconds += time.perf_counter() - start
        if watcher:
            watcher.epoch(row)
    return FitResult(tuple(curve), seconds, base)
