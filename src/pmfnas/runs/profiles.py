"""Real-training profiles: the defaults a real-training search starts from, and its evaluator.

A search of minutes on real data climbs a shorter ladder than the table's (the evaluator offers
it, with PMF's parameters for it: :data:`~pmfnas.evaluators.training.TRAINING_LADDER`), trains
a network sized for the data and the budget (:func:`pmfnas.evaluators.setting.plan_recipe`) and
keeps that setting when it is resumed.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import BudgetUnit
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS
from pmfnas.runs.spec import training_study_name
from pmfnas.spaces import SearchSpace, create_space
from pmfnas.storage import Storage

if TYPE_CHECKING:
    from pmfnas.data import ImageDataset
    from pmfnas.evaluators.multi import MultiFidelityEvaluator
    from pmfnas.evaluators.training import TrainingEvaluator
    from pmfnas.training import TrainingRecipe, TrainingWatcher

DEFAULT_STRATEGY = "pmf"
"""The flagship: progressive multi-fidelity search (issue 5)."""


DEFAULT_DATA = "digits"
"""The embedded default: scikit-learn's digits need no data folder."""

SMALL_RECIPES = {"digits": {"batch_size": 64, "channels": 8, "cells_per_stage": 1, "fraction": 1.0}}
"""Recipe defaults for small datasets, where NB201's full 16-channel, 5-cell network and batch 256
would be oversized (digits: 1,081 training images of 8 x 8 pixels); a search keeps them as given
instead of planning its setting (:func:`search_evaluator`)."""


def training_recipe(data: str, recipe: str = "nb201", **overrides: Any) -> TrainingRecipe:
    """The named ``recipe`` (:data:`~pmfnas.training.recipe.RECIPES`) with the given overrides
    (``None``: the recipe's); NB201's takes the small-dataset defaults for ``data`` first."""
    from pmfnas.training.recipe import named_recipe

    small = SMALL_RECIPES.get(data.lower(), {}) if recipe == "nb201" else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(named_recipe(recipe), **{**small, **given})


REGULARISED_SPACES = frozenset({"darts"})
"""Spaces whose networks have drop-path and an auxiliary head (``network(..., auxiliary=True)``),
which DARTS' recipe trains."""


def check_recipe(space: SearchSpace, data: ImageDataset, recipe: TrainingRecipe) -> None:
    """A :class:`ConfigError`, before any work, unless ``space``'s networks can be trained with
    ``recipe`` on ``data`` (at the resolution it is trained at): drop-path and the auxiliary loss
    need a space of :data:`REGULARISED_SPACES`, the auxiliary head DARTS' input sizes."""
    if (recipe.drop_path or recipe.auxiliary_weight) and space.name not in REGULARISED_SPACES:
        raise ConfigError(
            f"drop-path and the auxiliary loss (DARTS' recipe) need networks that have them: "
            f"train {', '.join(sorted(REGULARISED_SPACES))} networks (--space darts), not "
            f"{space.name}'s"
        )
    if recipe.auxiliary_weight:
        from pmfnas.spaces.darts.costs import check_input_size

        for side in data.image_size:
            check_input_size(side, auxiliary=True)


def training_evaluator(
    data: str = DEFAULT_DATA,
    *,
    data_dir: Path | None = None,
    split: str = "holdout",
    recipe: TrainingRecipe | None = None,
    device: str = "cpu",
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    watcher: TrainingWatcher | None = None,
    budget_unit: BudgetUnit = "wall",
    space: SearchSpace | None = None,
    threads: int | None = None,
) -> TrainingEvaluator:
    """A training evaluator of ``space``'s networks (default: NB201's) on a named dataset or
    image folder, split for validation, on ``threads`` torch threads (default: as many as
    :func:`default_threads` gives its network)."""
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.training import TrainingEvaluator

    space = space or create_space()
    dataset = load_dataset(data, data_dir, split=split)
    recipe = recipe or training_recipe(data)
    use_threads(recipe_threads(space, dataset, recipe) if threads is None else threads)
    return TrainingEvaluator(
        dataset,
        recipe,
        device=device,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        watcher=watcher,
        budget_unit=budget_unit,
        space=space,
    )


THREADS_FROM_MFLOPS = 200_000.0
"""MFLOPs of forward work per training batch (the space's typical cell, times the batch) from
which a second torch thread is expected to train faster than one; below, it only adds
synchronisation. ``benchmarks/threads.py`` found one thread faster at every size it measured
(up to NB201's own network), the margin shrinking with size; this is below where the trend of
that margin reaches parity (``docs/results.md``)."""

MAX_THREADS = 2
"""The most threads the rule gives: the most that ``benchmarks/threads.py`` measured (on a 2-core
machine). A thread count changes results bit-wise, so a rule that took all of a machine's cores
would make a default search's results depend on the machine it ran on; this one gives the same
count on every machine with at least this many cores."""


def default_threads(mflops_per_batch: float) -> int:
    """Torch threads for training (or scoring) networks of this much forward work per batch:
    one for small networks, :data:`MAX_THREADS` (at most the machine's cores) from
    :data:`THREADS_FROM_MFLOPS` on."""
    if mflops_per_batch < THREADS_FROM_MFLOPS:
        return 1
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def batch_mflops(
    space: SearchSpace,
    data: ImageDataset,
    channels: int,
    cells_per_stage: int,
    batch_size: int,
    resolution: int = 0,
) -> float:
    """Forward MFLOPs of one batch of the space's typical cell at this size (``resolution``
    0: the images' own), the work :func:`default_threads` goes by."""
    forward = space.forward_flops(
        space.typical(),
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=data.num_classes,
        input_size=resolution or data.image_size[0],
        input_channels=data.channels,
    )
    return forward * batch_size / 1e6


def recipe_threads(space: SearchSpace, data: ImageDataset, recipe: TrainingRecipe) -> int:
    """:func:`default_threads` of training ``space``'s networks with ``recipe``."""
    sizes = (recipe.channels, recipe.cells_per_stage, recipe.batch_size, recipe.resolution)
    return default_threads(batch_mflops(space, data, *sizes))


def use_threads(threads: int) -> int:
    """Set torch's thread count for the whole process (a :class:`ConfigError` below 1)."""
    import torch

    if threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    return threads


def search_evaluator(
    data: str = DEFAULT_DATA,
    *,
    budget: float,
    budget_unit: BudgetUnit = "wall",
    data_dir: Path | None = None,
    split: str = "holdout",
    device: str = "cpu",
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    threads: int | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    strategy: str = DEFAULT_STRATEGY,
    space: SearchSpace | None = None,
    watcher: TrainingWatcher | None = None,
    **knobs: Any,
) -> MultiFidelityEvaluator:
    """The proxies-and-training ladder of a real-training search on ``data``, trained at the
    setting that ``budget`` pays for (:func:`pmfnas.evaluators.setting.plan_recipe`).

    ``knobs`` (recipe fields: ``channels``, ``cells_per_stage``, ``batch_size``, ``fraction``,
    ``resolution``; ``None`` = choose) are kept as given; so are the small-dataset defaults of
    :data:`SMALL_RECIPES`. A study already in ``storage`` (``study``, by default the name
    :func:`run_training_search` gives a ``strategy`` search) keeps the setting it was planned
    with, and the thread count it ran on, whatever this budget or machine would choose now, so
    that it can be resumed. ``threads`` sets torch's thread count for the whole process (default:
    :func:`default_threads` of the planned network, planned on one thread); ``space`` is whose
    networks are trained (default: NB201's); ``watcher`` hears each training's course.
    """
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.setting import plan_recipe
    from pmfnas.evaluators.training import TrainingEvaluator

    space = space or create_space()
    dataset = load_dataset(data, data_dir, split=split)
    name = study or training_study_name(strategy, dataset.name, seed)
    recipe, stored_threads = stored_setting(storage, name) if storage else (None, None)
    if recipe is None:
        use_threads(1 if threads is None else threads)
        given = {k: v for k, v in knobs.items() if v is not None}
        fixed = frozenset(given) | frozenset(SMALL_RECIPES.get(data.lower(), {}))
        base = training_recipe(data, **given)
        recipe = plan_recipe(space, dataset, budget, budget_unit, base, fixed, device)
    if threads is None:
        threads = stored_threads or recipe_threads(space, dataset, recipe)
    use_threads(threads)
    training = TrainingEvaluator(
        dataset,
        recipe,
        device=device,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        watcher=watcher,
        budget_unit=budget_unit,
        space=space,
    )
    return real_data_evaluator(training)


def stored_setting(storage: str | Path, study: str) -> tuple[TrainingRecipe | None, int | None]:
    """The recipe and torch thread count a real-training study in ``storage`` was made with
    (``None`` for what it does not say: no such study, or one stored before threads were)."""
    from pmfnas.training import TrainingRecipe

    if not Path(storage).is_file():
        return None, None
    with Storage(storage, read_only=True) as db:
        configs = dict(db.studies())
    evaluator = configs.get(study, {}).get("evaluator", {})
    recipe, threads = evaluator.get("recipe"), evaluator.get("threads")
    return (
        TrainingRecipe(**json.loads(recipe)) if recipe else None,
        int(threads) if threads else None,
    )


def describe_setting(training: TrainingEvaluator) -> str:
    """What a real-training search trains, in one line for people."""
    recipe, data = training.recipe, training.dataset()
    sizes = {part: len(data.part(part)[1]) for part in ("train", "valid", "test")}
    side = data.image_size[0]
    return (
        f"setting: {training.space.name.upper()} networks C={recipe.channels}, N={recipe.cells_per_stage}, batch "
        f"{recipe.batch_size}, on {sizes['train']:,} of {len(training.data.train_y):,} training "
        f"images at {side}x{side} px; {sizes['valid']:,} validation, {sizes['test']:,} test "
        f"images; {training.threads} thread(s) on {training.run.device}"
    )


def real_data_evaluator(training: TrainingEvaluator) -> MultiFidelityEvaluator:
    """The whole ladder on ``training``'s data, at the recipe's resolution: proxies (on the
    reduced proxy-table network, two batches of 64) below the training fidelities."""
    from pmfnas.evaluators.multi import MultiFidelityEvaluator
    from pmfnas.evaluators.proxy import ProxyEvaluator

    proxies = ProxyEvaluator(
        training.dataset(),
        batch_size=64,
        channels=TABLE_CHANNELS,
        cells_per_stage=TABLE_CELLS,
        seed=training.seed,
        budget_unit=training.budget_unit,
        space=training.space,
    )
    return MultiFidelityEvaluator(proxies, training)
