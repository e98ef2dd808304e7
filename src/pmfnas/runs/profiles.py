"""Real-training profiles: the defaults a real-training search starts from, and its evaluator.

A search of minutes on real data climbs a shorter ladder than the table's (the evaluator offers
it: :data:`~pmfnas.evaluators.training.TRAINING_LADDER`), tunes PMF for it
(:data:`TRAINING_PARAMS`), trains a network sized for the data and the budget
(:func:`pmfnas.evaluators.setting.plan_recipe`) and keeps that setting when it is resumed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmfnas.evaluators.base import BudgetUnit
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS
from pmfnas.runs.spec import training_study_name
from pmfnas.spaces import SearchSpace, create_space
from pmfnas.storage import Storage

if TYPE_CHECKING:
    from pmfnas.evaluators.multi import MultiFidelityEvaluator
    from pmfnas.evaluators.training import TrainingEvaluator
    from pmfnas.training import TrainingRecipe

DEFAULT_STRATEGY = "pmf"
"""The flagship: progressive multi-fidelity search (issue 5)."""


DEFAULT_DATA = "digits"
"""The embedded default: scikit-learn's digits need no data folder."""

SMALL_RECIPES = {"digits": {"batch_size": 64, "channels": 8, "cells_per_stage": 1, "fraction": 1.0}}
"""Recipe defaults for small datasets, where NB201's full 16-channel, 5-cell network and batch 256
would be oversized (digits: 1,081 training images of 8 x 8 pixels); a search keeps them as given
instead of planning its setting (:func:`search_evaluator`)."""


TRAINING_PARAMS: dict[str, dict[str, Any]] = {
    "pmf": {"low_share": 0.1, "low_sample": 500, "patience": 5},
}
"""Strategy defaults for real training, under the user's own parameters (the fidelities come
from the evaluator's ladder, :data:`~pmfnas.evaluators.training.TRAINING_LADDER`). PMF's stage 1
may take 10 % of the budget and at most 500 cells: proxies count few FLOPs, so under a compute
budget the share alone would let stage 1 take most of the wall time. A stall is 5 medium results
without a better one, since a search of minutes affords only about a hundred medium runs and the
tabular patience of 20 would leave few candidates for the 12-epoch rung (``docs/results.md``)."""


def training_params(strategy: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parameters a real-training search passes ``strategy``: its real-training defaults
    (:data:`TRAINING_PARAMS`) under the user's ``params``."""
    return {**TRAINING_PARAMS.get(strategy, {}), **(params or {})}


def training_recipe(data: str, **overrides: Any) -> TrainingRecipe:
    """NB201's recipe, with the small-dataset defaults for ``data`` and the given overrides."""
    from pmfnas.training import TrainingRecipe

    base = SMALL_RECIPES.get(data.lower(), {})
    return TrainingRecipe(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def training_evaluator(
    data: str = DEFAULT_DATA,
    *,
    data_dir: Path | None = None,
    split: str = "holdout",
    recipe: TrainingRecipe | None = None,
    device: str = "cpu",
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    progress: Callable[[float, float], None] | None = None,
    budget_unit: BudgetUnit = "wall",
    space: SearchSpace | None = None,
) -> TrainingEvaluator:
    """A training evaluator of ``space``'s networks (default: NB201's) on a named dataset or
    image folder, split for validation."""
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.training import TrainingEvaluator

    return TrainingEvaluator(
        load_dataset(data, data_dir, split=split),
        recipe or training_recipe(data),
        device=device,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
        budget_unit=budget_unit,
        space=space,
    )


SEARCH_THREADS = 1
"""Torch threads of a real-training search on the CPU. The networks a search trains are small,
so more threads mostly add synchronisation, and a thread count is part of what makes a search
reproducible (results differ bit-wise between counts): the default must not depend on the
machine."""


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
    **knobs: Any,
) -> MultiFidelityEvaluator:
    """The proxies-and-training ladder of a real-training search on ``data``, trained at the
    setting that ``budget`` pays for (:func:`pmfnas.evaluators.setting.plan_recipe`).

    ``knobs`` (recipe fields: ``channels``, ``cells_per_stage``, ``batch_size``, ``fraction``,
    ``resolution``; ``None`` = choose) are kept as given; so are the small-dataset defaults of
    :data:`SMALL_RECIPES`. A study already in ``storage`` (``study``, by default the name
    :func:`run_training_search` gives a ``strategy`` search) keeps the setting it was planned
    with, whatever this budget or machine would plan now, so that it can be resumed. ``threads``
    (default :data:`SEARCH_THREADS`) sets torch's thread count for the whole process;
    ``space`` is whose networks are trained (default: NB201's).
    """
    import torch

    from pmfnas.data import load_dataset
    from pmfnas.evaluators.setting import plan_recipe
    from pmfnas.evaluators.training import TrainingEvaluator

    torch.set_num_threads(threads or SEARCH_THREADS)
    space = space or create_space()
    dataset = load_dataset(data, data_dir, split=split)
    name = study or training_study_name(strategy, dataset.name, seed)
    recipe = stored_recipe(storage, name) if storage else None
    if recipe is None:
        given = {k: v for k, v in knobs.items() if v is not None}
        fixed = frozenset(given) | frozenset(SMALL_RECIPES.get(data.lower(), {}))
        base = training_recipe(data, **given)
        recipe = plan_recipe(space, dataset, budget, budget_unit, base, fixed, device)
    training = TrainingEvaluator(
        dataset,
        recipe,
        device=device,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        budget_unit=budget_unit,
        space=space,
    )
    return real_data_evaluator(training)


def stored_recipe(storage: str | Path, study: str) -> TrainingRecipe | None:
    """The recipe a real-training study in ``storage`` was made with (``None``: no such study)."""
    from pmfnas.training import TrainingRecipe

    if not Path(storage).is_file():
        return None
    with Storage(storage, read_only=True) as db:
        configs = dict(db.studies())
    recipe = configs.get(study, {}).get("evaluator", {}).get("recipe")
    return TrainingRecipe(**json.loads(recipe)) if recipe else None


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
