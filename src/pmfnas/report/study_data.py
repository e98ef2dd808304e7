"""Everything a study report shows, read from a storage file without knowing the study's config.

Besides the stored trials: the architecture the strategy returns (and would have returned at each
earlier moment), each trial's test accuracy where it is known (NB201's 200-epoch test accuracy
for tabular studies, the measured one for real training) and the network sizes of the cells.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.errors import ConfigError, DataError, StorageError
from pmfnas.evaluators.base import Ladder
from pmfnas.spaces import (
    DEFAULT_SPACE,
    EnumerableSpace,
    SearchSpace,
    create_space,
    require_enumerable,
)
from pmfnas.spaces.nb201.costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import BaseStrategy, best_evidence
from pmfnas.types import Trial

REAL_DATA_SHAPES: dict[str, tuple[int, int, int]] = {
    **{name: (classes, size, 3) for name, (classes, size) in DATASET_SHAPES.items()},
    "digits": (10, 8, 1),
    "fashion-mnist": (10, 28, 1),
}
"""Data name → (classes, image size, input channels) of the datasets pmfnas reads by name."""
FOLDER_SHAPE = (10, 32, 3)
"""Assumed for an image folder, whose shape the study config does not record."""


@dataclass(frozen=True)
class StudyData:
    """A stored study and what is derived from it for the report."""

    storage: str
    name: str
    config: dict[str, Any]
    space: SearchSpace
    """The study's space, rebuilt from the name its config stores."""
    trials: list[Trial]
    tabular: bool
    returned: list[Trial | None]
    """The strategy's returned trial had the search stopped after each trial (same order)."""
    test: dict[int, float]
    """Test accuracy by trial number, where known."""
    test_note: str
    """What the test accuracy is, or why it is not known."""
    params: np.ndarray
    flops: np.ndarray
    """Params and FLOPs (millions) of every cell in NATS index order, as sized for this study."""
    size_note: str

    @property
    def best(self) -> Trial | None:
        return self.returned[-1] if self.returned else None

    @property
    def cost_label(self) -> str:
        if self.tabular:
            return "simulated cost (s)"
        unit = self.config.get("evaluator", {}).get("budget_unit", "wall")
        return "compute (FLOPs)" if unit == "flops" else "wall time (s)"

    @property
    def title(self) -> str:
        evaluator = self.config.get("evaluator", {})
        where = evaluator.get("dataset") if self.tabular else evaluator.get("data")
        return f"{self.config.get('strategy', '?')} on {where}: study {self.name}"


def choose_study(storage: Storage, name: str | None) -> str:
    """``name``, or the file's only study; several studies need a name, and the error lists them."""
    names = [n for n, _ in storage.studies()]
    if name is not None:
        return name
    if not names:
        raise StorageError(f"{storage.path} holds no studies")
    if len(names) > 1:
        raise StorageError(
            f"{storage.path} holds {len(names)} studies; choose one with --study: {', '.join(names)}"
        )
    return names[0]


def load_study(path: str | Path, name: str | None = None, source: Path | None = None) -> StudyData:
    """Read study ``name`` (default: the only one) of ``path``; ``source`` is the NB201 data
    folder for test accuracies (default ``$PMFNAS_DATA/nb201``, then the one the study used)."""
    with Storage(path, read_only=True) as storage:
        name = choose_study(storage, name)
        config, trials = storage.load(name)
    space = create_space(config.get("space", DEFAULT_SPACE))
    if not trials:
        raise StorageError(f"study {name!r} in {path} has no trials to report")
    evaluator = config.get("evaluator", {})
    tabular = evaluator.get("benchmark") == "nb201"
    if tabular:
        test, test_note = _tabular_test(
            trials, require_enumerable(space, "a tabular report"), evaluator, source
        )
    else:
        test = {t.number: float(t.info["test_acc"]) for t in trials if "test_acc" in t.info}
        test_note = "Test accuracy measured after each training (never used by the search)"
    params, flops, size_note = network_sizes(evaluator)
    return StudyData(
        storage=str(path),
        name=name,
        config=config,
        space=space,
        trials=trials,
        tabular=tabular,
        returned=returned_after_each(config, space, trials, sized(space, params, flops)),
        test=test,
        test_note=test_note,
        params=params,
        flops=flops,
        size_note=size_note,
    )


def _tabular_test(
    trials: Sequence[Trial], space: EnumerableSpace, evaluator: dict[str, str], source: Path | None
) -> tuple[dict[int, float], str]:
    from pmfnas.tables.nb201 import NB201Benchmark

    dataset = evaluator["dataset"]
    tries = [source] if source else [None, Path(evaluator.get("source", ""))]
    bench, why = None, ""
    for folder in tries:
        try:
            bench = NB201Benchmark.load(folder)
            break
        except DataError as exc:
            why = str(exc)
    if bench is None:
        return {}, f"Test accuracy n/a: the NB201 data could not be read ({why})"
    row = bench.array("test_acc_200", dataset)
    values = {t.number: float(row[space.index(t.arch)]) for t in trials}
    test = {number: v for number, v in values.items() if not math.isnan(v)}  # NaN: not recorded
    return test, f"NB201 test accuracy after 200 epochs on {dataset} (never used by the search)"


def network_sizes(evaluator: dict[str, str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Params and FLOPs of every cell in the network the study trains (or NB201 records)."""
    if evaluator.get("benchmark") == "nb201":
        classes, size = DATASET_SHAPES[evaluator["dataset"]]
        params, flops = all_params_and_flops(classes, size)
        return params, flops, f"NB201 network (C=16, N=5) on {evaluator['dataset']}"
    recipe = json.loads(evaluator.get("recipe", "{}"))
    channels, cells = recipe.get("channels", 16), recipe.get("cells_per_stage", 5)
    data = evaluator.get("data", "")
    classes, size, inputs = REAL_DATA_SHAPES.get(data, FOLDER_SHAPE)
    params, flops = all_params_and_flops(
        classes, size, channels=channels, cells_per_stage=cells, input_channels=inputs
    )
    shape = f"{classes} classes, {size}x{size}x{inputs} inputs"
    if data not in REAL_DATA_SHAPES:
        shape += " assumed"
    return params, flops, f"the recipe's network (C={channels}, N={cells}), {shape}"


def sized(space: SearchSpace, params: np.ndarray, flops: np.ndarray) -> Ladder:
    """A ladder that counts network sizes as the report does, for a strategy rebuilt with size
    limits (its fidelities are in its stored parameters)."""
    if not isinstance(space, EnumerableSpace):
        return Ladder()
    return Ladder(
        network_size=lambda arch: (
            float(params[space.index(arch)]),
            float(flops[space.index(arch)]),
        )
    )


def returned_after_each(
    config: dict[str, Any],
    space: SearchSpace,
    trials: Sequence[Trial],
    ladder: Ladder | None = None,
) -> list[Trial | None]:
    """The strategy's own ``best`` rule applied after each trial, as ``pmfnas bench`` does.

    A strategy with its own rule (MFNAS picks from its population) is first replayed through the
    stored trials (``ladder`` counts sizes for one with size limits); one whose replay differs
    from the stored history, or that this version cannot rebuild from its stored parameters,
    gets the default rule. A one-shot search returns the cell of its latest epoch.
    """
    from pmfnas.study import anytime_best

    if "oneshot" in config:  # each epoch's trial is the cell the search held then
        return list(trials)
    try:
        strategy = create_strategy(
            config["strategy"],
            space,
            seed=config.get("seed", 0),
            ladder=ladder,
            **config.get("params", {}),
        )
    except ConfigError:
        return _default_rule(trials)
    if type(strategy).best is not BaseStrategy.best and not _replay(strategy, trials):
        return _default_rule(trials)
    return anytime_best(strategy, trials, [t.clock for t in trials])


def _default_rule(trials: Sequence[Trial]) -> list[Trial | None]:
    return [best_evidence(trials[: n + 1]) for n in range(len(trials))]


def _replay(strategy: BaseStrategy, trials: Sequence[Trial]) -> bool:
    """Ask and tell the stored trials in order; ``False`` if the strategy asks something else."""
    strategy.budget_left = math.inf
    for trial in trials:
        request = strategy.ask()
        if request is None or (request.arch, request.fidelity) != (trial.arch, trial.fidelity):
            return False
        strategy.tell(trial)
    return True
