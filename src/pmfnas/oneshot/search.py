"""The epoch loop of every one-shot search: train, derive, measure, record, checkpoint, resume.

Each epoch runs under torch's global generator seeded by (seed, epoch) and draws its batches from
a generator seeded the same way, so the stochastic parts of a method (Gumbel samples, Dirichlet
samples, random paths) and the data order are fixed per epoch: a search killed at any point and
rerun continues after its last checkpointed epoch and, on the CPU with the same thread count,
derives the same cells as the uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pmfnas.data import ImageDataset
from pmfnas.errors import ConfigError
from pmfnas.oneshot.base import EpochRecord, OneShotMethod
from pmfnas.oneshot.recipe import OneShotRecipe
from pmfnas.oneshot.trainer import SupernetTrainer
from pmfnas.spaces.oneshot import OneShotSpace, parameter_free_share
from pmfnas.training.checkpoint import load_checkpoint, save_checkpoint
from pmfnas.training.loop import Device
from pmfnas.types import Arch, Progress


@dataclass(frozen=True)
class OneShotResult:
    """The returned cell, the reason the search ended, and every epoch's record."""

    arch: Arch
    stop_reason: str
    history: tuple[EpochRecord, ...]


def search_oneshot(
    method: OneShotMethod,
    space: OneShotSpace,
    data: ImageDataset,
    recipe: OneShotRecipe | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    run: Device | None = None,
    checkpoint: Path | None = None,
    record: Callable[[EpochRecord], None] | None = None,
    progress: Progress | None = None,
    budget: float | None = None,
) -> OneShotResult:
    """Train ``method``'s supernet for ``epochs`` (default: the method's own) and return its cell.
    Without a ``recipe``, the method's reference one.

    ``record`` is called once per finished epoch, in order (a resumed search calls it only for
    the epochs it trains now; the checkpoint holds the earlier ones). ``progress`` gets
    (epochs done, as a fraction while one runs; total epochs). ``budget`` (wall seconds, the
    resumed parts' included) ends the search before an epoch it can no longer pay for, judged
    by the mean epoch so far.
    """
    recipe = recipe or OneShotRecipe(**method.recipe_changes)
    epochs = method.epochs if epochs is None else epochs
    if epochs < 1:
        raise ConfigError(f"a one-shot search needs at least one epoch, got {epochs}")
    run = run or Device.of("cpu")
    trainer = SupernetTrainer(space, data, recipe, epochs=epochs, seed=seed, run=run)
    config = {
        "method": method.name,
        "params": method.params(),
        "recipe": recipe.as_dict(),
        "epochs": epochs,
        "seed": seed,
        "space": space.name,
    }
    history: list[EpochRecord] = []
    state = load_checkpoint(checkpoint, config) if checkpoint else None
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        method.load_state_dict(state["method"])
        history = [EpochRecord(**row) for row in state["history"]]
    stop_reason = "epochs done"
    for epoch in range(len(history), epochs):
        if reason := method.stop(history) or _unaffordable(history, budget):
            stop_reason = reason
            break
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
            torch.manual_seed(seed * 100_003 + epoch)
            _train_epoch(method, trainer, epoch, epochs, progress)
            arch = method.derive(trainer)
            metrics = trainer.measure(path=space.path(arch))
        metrics |= {"alpha_entropy": _entropy(trainer.probabilities())}
        info = {"parameter_free": parameter_free_share(space, arch), **method.info()}
        history.append(EpochRecord(epoch + 1, arch, metrics, time.perf_counter() - start, info))
        if checkpoint:
            save_checkpoint(
                checkpoint,
                {
                    "config": config,
                    "trainer": trainer.state_dict(),
                    "method": method.state_dict(),
                    "history": [asdict(row) for row in history],
                },
            )
        if record:
            record(history[-1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 100_003 + epochs)
        arch = method.finish(trainer)
    return OneShotResult(arch, stop_reason, tuple(history))


def _train_epoch(
    method: OneShotMethod,
    trainer: SupernetTrainer,
    epoch: int,
    epochs: int,
    progress: Progress | None,
) -> None:
    place = epoch / max(1, epochs - 1)
    method.begin_epoch(trainer, epoch, epochs)
    for step, (train, valid) in enumerate(trainer.batches(epoch)):
        method.step(trainer, train, valid, place)
        if progress:
            progress(epoch + (step + 1) / trainer.steps, epochs)
    method.end_epoch(trainer, epoch, epochs)


def _unaffordable(history: list[EpochRecord], budget: float | None) -> str | None:
    """Why the next epoch does not fit in ``budget`` (``None`` if it does, or none is set)."""
    if budget is None or not history:
        return None
    spent = sum(row.seconds for row in history)
    epoch = spent / len(history)
    if spent + epoch <= budget:
        return None
    return (
        f"the remaining {max(0.0, budget - spent):.0f} s cannot pay for another supernet epoch "
        f"(≈ {epoch:.0f} s)"
    )


def _entropy(probabilities: np.ndarray) -> float:
    """Mean entropy (nats) of the choice points' distributions: log(candidates) when uniform,
    0 when every choice point has decided."""
    p = np.clip(probabilities, 1e-12, 1.0)
    return float(-(p * np.log(p)).sum(axis=1).mean())
