"""One-shot searches as a use case: the data and profile, storage of every epoch's cell as a
trial, resume from the supernet checkpoint, and a summary like every other search's.

A one-shot search is resumable when it has somewhere to keep its supernet: ``checkpoints``, or
beside ``storage`` (``<storage>.oneshot/<study>.ckpt``). Each finished epoch is stored as a trial
of fidelity ``supernet=<epoch>`` whose metrics are the supernet's measurement of the derived cell,
so the report, anytime plots and ``studies`` commands read it as any study.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pmfnas.data import ImageDataset, load_dataset
from pmfnas.data.base import cap_images, take_fraction
from pmfnas.errors import ConfigError, DataError
from pmfnas.oneshot import ONESHOT, EpochRecord, OneShotMethod, search_oneshot
from pmfnas.oneshot.profiles import SPLIT, OneShotProfile, space_profile
from pmfnas.runs.spec import training_study_name
from pmfnas.spaces import SearchSpace, create_space, index_or_none
from pmfnas.spaces.oneshot import require_oneshot
from pmfnas.storage import Storage
from pmfnas.strategies.parameters import check_params
from pmfnas.study import trials_per_fidelity
from pmfnas.tables.nb201 import NB201_DATASETS, TEST_ACC_200, NB201Benchmark
from pmfnas.types import Arch, Fidelity, Progress, Trial, TrialState

DEFAULT_PROFILE = "cpu"


def create_method(name: str, params: dict[str, Any] | None = None) -> OneShotMethod:
    """The registered one-shot method ``name`` with ``params`` (text from the command line is
    read as each parameter's type); an unknown or mistyped one is a ``ParameterError``."""
    cls = ONESHOT.get(name)
    return cls(**check_params(name, cls, params or {}))


def with_setting(profile: OneShotProfile, setting: dict[str, Any]) -> OneShotProfile:
    """``profile`` with the given data knobs and recipe fields changed (a share of the images
    replaces the profile's cap)."""
    given = {k: v for k, v in setting.items() if v is not None}
    knobs = {k: given.pop(k) for k in ("fraction", "resolution") if k in given}
    fields = set(profile.recipe.as_dict())
    if unknown := sorted(set(given) - fields):
        raise ConfigError(f"a one-shot search has no setting {', '.join(unknown)}")
    if "fraction" in knobs:
        knobs["images"] = 0  # the user's share replaces the profile's cap
    return replace(profile, recipe=replace(profile.recipe, **given), **knobs)


def oneshot_data(
    data: str, profile: OneShotProfile, *, seed: int, data_dir: Path | None = None
) -> ImageDataset:
    """``data`` split in halves for w and α, reduced to the profile's share, cap and image size."""
    dataset = load_dataset(data, data_dir, split=SPLIT)
    for part in ("train", "valid"):
        dataset = take_fraction(dataset, profile.fraction, seed, part)
        dataset = cap_images(dataset, part, profile.images, seed)
    if profile.resolution and profile.resolution < min(dataset.image_size):
        dataset = dataset.resized(profile.resolution)
    return dataset


def run_oneshot_search(
    method: str,
    *,
    data: str = "digits",
    space: str = "nb201",
    profile: str = DEFAULT_PROFILE,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    budget: float | None = None,
    device: str = "cpu",
    threads: int | None = None,
    data_dir: Path | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    checkpoints: Path | None = None,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
    **setting: Any,
) -> dict[str, Any]:
    """Run one-shot ``method`` in ``space`` on ``data`` under ``profile`` (wall ``budget``
    optional) and summarise its returned cell; the summary adds what a benchmark says of that
    cell, looked up after the search and never shown to it: on NB201 the tables' 200-epoch test
    accuracy on the three datasets, in the DARTS space NAS-Bench-301's predicted 98-epoch
    validation accuracy on CIFAR-10 (where the data are there).
    ``setting`` overrides the profile: ``fraction``, ``resolution`` or any recipe field
    (``channels``, ``cells_per_stage``, ``batch_size`` ...); ``None`` values are ignored.
    ``threads`` (default 1: the supernets of a CPU profile are small) is part of the study's
    settings, since results differ bit-wise between thread counts."""
    import torch

    from pmfnas.training.loop import Device

    threads = threads or 1
    if threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    chosen = with_setting(space_profile(space, profile), setting)
    searcher = create_method(method, params)
    searched = require_oneshot(create_space(space), method)
    run = Device.of(device)
    dataset = oneshot_data(data, chosen, seed=seed, data_dir=data_dir)
    recipe = replace(chosen.recipe, **searcher.recipe_changes)
    epochs = epochs or chosen.epochs or searcher.epochs
    name = study or training_study_name(method, dataset.name, seed)
    name += "" if space == "nb201" else f"-{space}"  # one file holds both spaces' searches
    config = {
        "space": searched.name,
        "oneshot": {
            "profile": profile,
            "recipe": recipe.as_dict(),
            "epochs": epochs,
            "fraction": chosen.fraction,
            "images": chosen.images,
            "resolution": chosen.resolution,
            "threads": threads,
        },
        "evaluator": {"data": dataset.name, "split": SPLIT, "device": run.device.type},
        "strategy": method,
        "params": searcher.params(),
        "seed": seed,
    }
    if announce:
        announce(
            f"one-shot {method}, profile {profile}: {epochs} supernet epochs, "
            f"C={recipe.channels} N={recipe.cells_per_stage}, {len(dataset.train_y)} + "
            f"{len(dataset.valid_y)} images of {dataset.image_size[0]} px"
        )
    checkpoint = _checkpoint(checkpoints, storage, name)
    started = time.perf_counter()
    with _recorder(storage, name, config, searched) as (record, finish):
        result = search_oneshot(
            searcher,
            searched,
            dataset,
            recipe,
            epochs=epochs,
            seed=seed,
            run=run,
            checkpoint=checkpoint,
            record=record,
            progress=progress,
            budget=budget,
        )
        for row in result.history:  # epochs checkpointed but not stored before a kill
            record(row)
        finish(budget, result.stop_reason)
    trials = [_trial(row) for row in result.history]
    last = result.history[-1]
    spent = sum(row.seconds for row in result.history)
    return {
        "benchmark": None,
        "data": dataset.name,
        "space": searched.name,
        "device": str(run.device),
        "strategy": method,
        "params": searcher.params(),
        "seed": seed,
        "arch": searched.format(result.arch),
        "index": index_or_none(searched, result.arch),
        "fidelity": str(Fidelity(supernet=last.epoch)),
        "val_acc": last.metrics["val_acc"] if last.arch == result.arch else None,
        "test_acc": None,
        "table_test_acc": table_accuracies(searched, result.arch, data_dir),
        "surrogate_val_acc": surrogate_accuracy(searched, result.arch, data_dir),
        "parameter_free": last.info["parameter_free"],
        "cost": spent,
        "budget": budget,
        "budget_unit": "wall",
        "trials": trials_per_fidelity(trials),
        "stopped": 0,
        "n_trials": len(trials),
        "stop_reason": result.stop_reason,
        "strategy_s": spent,
        "wall_s": time.perf_counter() - started,
    }


def table_accuracies(
    space: SearchSpace, arch: Arch, data_dir: Path | None = None
) -> dict[str, float] | None:
    """NB201's 200-epoch test accuracy of ``arch`` on each dataset; ``None`` when the space is
    not NB201 or its tables are not in the data folder."""
    index = index_or_none(space, arch)
    if space.name != "nb201" or index is None:
        return None
    try:
        bench = NB201Benchmark.load(data_dir / "nb201" if data_dir else None)
    except DataError:
        return None
    return {ds: round(bench.value(TEST_ACC_200, ds, index), 2) for ds in NB201_DATASETS}


def surrogate_accuracy(
    space: SearchSpace, arch: Arch, data_dir: Path | None = None
) -> float | None:
    """NAS-Bench-301's predicted validation accuracy of a DARTS genotype after 98 epochs on
    CIFAR-10; ``None`` in another space, or without the surrogate (or onnxruntime)."""
    if space.name != "darts":
        return None
    from pmfnas.evaluators.nb301 import predicted_final_accuracy
    from pmfnas.tables.nb301 import surrogate_folder

    return predicted_final_accuracy(arch, [surrogate_folder(data_dir)])


def _checkpoint(checkpoints: Path | None, storage: str | Path | None, study: str) -> Path | None:
    if checkpoints is not None:
        return checkpoints / f"{study}.ckpt"
    if storage is not None:
        return Path(f"{storage}.oneshot") / f"{study}.ckpt"
    return None


def _trial(row: EpochRecord) -> Trial:
    """An epoch's record as the trial that stores it (its cost: the epoch's seconds)."""
    return Trial(
        number=row.epoch - 1,
        arch=row.arch,
        fidelity=Fidelity(supernet=row.epoch),
        state=TrialState.COMPLETE,
        metrics=row.metrics,
        cost=row.seconds,
        clock=0.0,
        info={"origin": "derived", **row.info},
    )


@contextmanager
def _recorder(
    storage: str | Path | None, name: str, config: dict[str, Any], space: SearchSpace
) -> Iterator[tuple[Callable[[EpochRecord], None], Callable[[float | None, str], None]]]:
    """A function that stores each epoch's trial once, holding the study's lease meanwhile,
    and one that records the budget and why the search stopped (without storage, functions
    that keep nothing)."""
    if storage is None:
        yield (lambda row: None), (lambda budget, reason: None)
        return
    with Storage(storage) as store:
        study_id = store.study(name, config)
        with store.lease(study_id, name):
            stored = {trial.number: trial.clock for trial in store.trials(study_id, space)}

            def record(row: EpochRecord) -> None:
                trial = _trial(row)
                if trial.number not in stored:
                    clock = max(stored.values(), default=0.0) + row.seconds
                    store.append(study_id, replace(trial, clock=clock), space)
                    stored[trial.number] = clock

            yield record, lambda budget, reason: store.finish(study_id, budget, reason)
