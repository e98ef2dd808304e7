"""The setting a real-training search trains at, chosen so that its budget pays for its ladder.

A search's medium rung has to train dozens of candidates within the budget. On a dataset much
larger than the embedded digits, NB201's network on every image at full resolution is far too
costly for that: a short search would not finish its first training (docs/results.md).
:func:`plan_recipe` tries settings from the most faithful to the
cheapest:

1. NB201's network (C=16, N=5, batch 256) at the images' own resolution;
2. the reduced network of the proxies and the digits (C=8, N=1, batch 64) at that resolution;
3. the reduced network at 16, then 8 pixels a side, where the images are larger;

and takes the first at which one medium training (:data:`MEDIUM_EPOCHS` epochs of a median cell,
validation and test passes included) costs at most a :data:`TRAININGS`-th of the budget on at
least :data:`ENOUGH_IMAGES` training images (or all there are). It trains on as many images as
that cost allows. When no setting affords that many, the cheapest one trains on what it affords,
but never on fewer than :data:`MIN_IMAGES`. The validation and test parts are capped at
:data:`EVAL_IMAGES` each: evaluated after every training, they would otherwise cost more than
the training itself in the small settings. Knobs the user sets (``fixed``) are kept as given.

Under a FLOPs budget the costs are counted; under a wall-clock budget they are the FLOPs times
the seconds per FLOP of a few timed training steps, measured on the cheapest setting first: a
costlier setting is timed only if it could fit at :data:`SPEEDUP` times that rate.
"""

from __future__ import annotations

import math
from dataclasses import replace

from pmfnas.data import ImageDataset, take_fraction
from pmfnas.evaluators.base import BudgetUnit
from pmfnas.evaluators.training import PROBE_STEPS, TRAINING_LADDER, TrainingEvaluator
from pmfnas.evaluators.work import TRAIN_PASSES
from pmfnas.spaces import SearchSpace
from pmfnas.training import TrainingRecipe
from pmfnas.types import Fidelity

MEDIUM_EPOCHS = TRAINING_LADDER.medium.epochs
"""Epochs of the real-training medium rung (:data:`~pmfnas.evaluators.training.TRAINING_LADDER`)."""
TRAININGS = 40
"""Medium trainings a budget should pay for: PMF spends about half its budget on them."""
ENOUGH_IMAGES = 5_000
MIN_IMAGES = 1_000
EVAL_IMAGES = 2_000
SPEEDUP = 4.0
"""How much faster per FLOP a larger network may train than the cheapest one timed."""

SETTINGS: tuple[dict[str, int], ...] = (
    {"channels": 16, "cells_per_stage": 5, "batch_size": 256, "resolution": 0},
    {"channels": 8, "cells_per_stage": 1, "batch_size": 64, "resolution": 0},
    {"channels": 8, "cells_per_stage": 1, "batch_size": 64, "resolution": 16},
    {"channels": 8, "cells_per_stage": 1, "batch_size": 64, "resolution": 8},
)
"""The candidate settings, most faithful first (a resolution is tried only below the images')."""


def candidates(
    data: ImageDataset, base: TrainingRecipe, fixed: frozenset[str]
) -> list[TrainingRecipe]:
    """The settings to try, most faithful first, with the user's ``fixed`` recipe fields kept."""
    side = data.image_size[0]
    recipes: list[TrainingRecipe] = []
    for setting in SETTINGS:
        if setting["resolution"] and setting["resolution"] >= side:
            continue
        changes = {
            k: v
            for k, v in {**setting, "valid_images": EVAL_IMAGES, "test_images": EVAL_IMAGES}.items()
            if k not in fixed
        }
        recipe = replace(base, **changes)
        if recipe not in recipes:
            recipes.append(recipe)
    return recipes


def medium_flops(
    space: SearchSpace, data: ImageDataset, recipe: TrainingRecipe, images: int
) -> float:
    """FLOPs of one medium training of the space's typical architecture on ``images`` training
    images."""
    forward = space.forward_flops(
        space.typical(),
        channels=recipe.channels,
        cells_per_stage=recipe.cells_per_stage,
        num_classes=data.num_classes,
        input_size=recipe.resolution or data.image_size[0],
        input_channels=data.channels,
    )
    valid, test = (
        _capped(data, part, cap)
        for part, cap in (("valid", recipe.valid_images), ("test", recipe.test_images))
    )
    return forward * (MEDIUM_EPOCHS * (TRAIN_PASSES * images + valid) + test)


def _capped(data: ImageDataset, part: str, cap: int) -> int:
    count = len(data.part(part)[1]) if data.has(part) else 0
    return min(count, cap or count)


def plan_recipe(
    space: SearchSpace,
    data: ImageDataset,
    budget: float,
    unit: BudgetUnit,
    base: TrainingRecipe | None = None,
    fixed: frozenset[str] = frozenset(),
    device: str = "cpu",
) -> TrainingRecipe:
    """The recipe (network size, batch, data share, resolution, validation cap) a search of
    ``budget`` (in ``unit``) on ``data`` trains with; see the module docstring. A ``fraction``
    in ``fixed`` keeps ``base.fraction``: only the other knobs are chosen."""
    base = base or TrainingRecipe()
    recipes = candidates(data, base, fixed)
    total = len(data.train_y)
    share = base.fraction if "fraction" in fixed else None
    rates: dict[int, float] = {}

    def rate(i: int) -> float:
        if unit == "flops":
            return 1.0
        if i not in rates:
            rates[i] = seconds_per_flop(space, data, recipes[i], device)
        return rates[i]

    def affordable(i: int, per_flop: float) -> int:
        """The training images one medium training at ``recipes[i]`` can pay for."""
        target = budget / TRAININGS / per_flop
        fixed_cost = medium_flops(space, data, recipes[i], 0)
        per_image = medium_flops(space, data, recipes[i], 1) - fixed_cost
        return min(total, max(0, math.floor((target - fixed_cost) / per_image)))

    def chosen(i: int, images: int) -> TrainingRecipe:
        return replace(recipes[i], fraction=share or max(images, 1) / total)

    enough = round(share * total) if share else min(ENOUGH_IMAGES, total)
    cheapest = len(recipes) - 1
    for i in range(len(recipes)):
        if unit == "wall" and i != cheapest and affordable(i, rate(cheapest) / SPEEDUP) < enough:
            continue  # even at an optimistic speed it cannot afford enough images: not timed
        if (images := affordable(i, rate(i))) >= enough:
            return chosen(i, images)
    return chosen(cheapest, max(affordable(cheapest, rate(cheapest)), min(MIN_IMAGES, total)))


def seconds_per_flop(
    space: SearchSpace, data: ImageDataset, recipe: TrainingRecipe, device: str
) -> float:
    """Seconds per training FLOP of the median cell at ``recipe``'s setting, from a few timed
    training steps on a small sample of ``data`` (the probe of the training evaluator)."""
    sample = data
    for part, keep in (("train", (PROBE_STEPS + 1) * recipe.batch_size), ("valid", 1), ("test", 1)):
        count = len(sample.part(part)[1])
        sample = take_fraction(sample, min(1.0, keep / count), 0, part=part)
    if recipe.resolution:
        sample = sample.resized(recipe.resolution)
    probe = replace(recipe, resolution=0, fraction=1.0, valid_images=0, test_images=0)
    evaluator = TrainingEvaluator(sample, probe, device=device, space=space)
    return evaluator.seconds_per_flop(space.typical(), Fidelity(epochs=1))
