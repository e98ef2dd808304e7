"""Everything a study report shows, read from a storage file without knowing the study's config.

Besides the stored trials: the architecture the strategy returns (and would have returned at each
earlier moment), each trial's test accuracy where it is known (NB201's 200-epoch test accuracy
for tabular studies, the measured one for real training) and the network sizes of the
architectures (NB201's from its size tables, any other space's counted on the networks it builds).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmfnas.errors import ConfigError, DataError, StorageError
from pmfnas.evaluators.base import Ladder, NetworkSize
from pmfnas.spaces import (
    DEFAULT_SPACE,
    EnumerableSpace,
    NB201Space,
    SearchSpace,
    create_space,
    require_enumerable,
)
from pmfnas.spaces.nb201.costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import BaseStrategy, best_evidence
from pmfnas.types import Arch, Trial

REAL_DATA_SHAPES: dict[str, tuple[int, int, int]] = {
    **{name: (classes, size, 3) for name, (classes, size) in DATASET_SHAPES.items()},
    "digits": (10, 8, 1),
    "fashion-mnist": (10, 28, 1),
}
"""Data name → (classes, image size, input channels) of the datasets pmfnas reads by name."""
FOLDER_SHAPE = (10, 32, 3)
"""Assumed for an image folder, whose shape the study config does not record."""


@dataclass(frozen=True)
class NetworkSizes:
    """The size of the network a study measures for an architecture, and which network that is."""

    of: NetworkSize
    """Params and FLOPs (millions) of an architecture's network."""
    note: str


@dataclass(frozen=True)
class StudyData:
    """A stored study and what is derived from it for the report."""

    storage: str
    name: str
    config: dict[str, Any]
    space: SearchSpace
    """The study's space, built from the name its config stores."""
    trials: list[Trial]
    tabular: bool
    returned: list[Trial | None]
    """The strategy's returned trial had the search stopped after each trial (same order)."""
    test: dict[int, float]
    """Test accuracy by trial number, where known."""
    test_note: str
    """What the test accuracy is, or why it is not known."""
    sizes: NetworkSizes | None
    """``None``: the config does not say which networks the study measured."""

    @property
    def best(self) -> Trial | None:
        return self.returned[-1] if self.returned else None

    @property
    def oneshot(self) -> bool:
        """Whether a one-shot search made the study: one trial per supernet epoch."""
        return "oneshot" in self.config

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


def choose_study(storage: Storage, name: str | None) -> tuple[str, dict[str, Any]]:
    """Study ``name``, or the file's only study, with its config; several studies need a name,
    and the error lists them."""
    studies = dict(storage.studies())
    if name is None:
        if not studies:
            raise StorageError(f"{storage.path} holds no studies")
        if len(studies) > 1:
            raise StorageError(
                f"{storage.path} holds {len(studies)} studies; choose one with --study: "
                f"{', '.join(studies)}"
            )
        name = next(iter(studies))
    if name not in studies:
        raise StorageError(
            f"no study {name!r} in {storage.path} (studies: {', '.join(studies) or 'none'})"
        )
    return name, studies[name]


def load_study(path: str | Path, name: str | None = None, source: Path | None = None) -> StudyData:
    """Read study ``name`` (default: the only one) of ``path``; ``source`` is the NB201 data
    folder for test accuracies (default ``$PMFNAS_DATA/nb201``, then the one the study used)."""
    with Storage(path, read_only=True) as storage:
        name, config = choose_study(storage, name)
        space = create_space(config.get("space", DEFAULT_SPACE))  # built once, reads the trials
        config, trials = storage.load(name, space)
    return study_data(str(path), name, config, space, trials, source)


def study_data(
    storage: str,
    name: str,
    config: dict[str, Any],
    space: SearchSpace,
    trials: list[Trial],
    source: Path | None = None,
) -> StudyData:
    """What the report shows of a study's stored ``config`` and ``trials``."""
    if not trials:
        raise StorageError(f"study {name!r} in {storage} has no trials to report")
    evaluator = config.get("evaluator", {})
    tabular = evaluator.get("benchmark") == "nb201"
    if tabular:
        test, test_note = _tabular_test(
            trials, require_enumerable(space, "a tabular report"), evaluator, source
        )
    elif "oneshot" in config and space.name == "nb201":  # no training: the tables score cells
        test, test_note = _tabular_test(
            trials, require_enumerable(space, "a one-shot report"), {"dataset": "cifar10"}, source
        )
    else:
        test = {t.number: float(t.info["test_acc"]) for t in trials if "test_acc" in t.info}
        test_note = "Test accuracy measured after each training (never used by the search)"
    sizes = network_sizes(space, evaluator)
    ladder = Ladder(network_size=sizes.of) if sizes else None  # for a strategy's size limits
    return StudyData(
        storage=storage,
        name=name,
        config=config,
        space=space,
        trials=trials,
        tabular=tabular,
        returned=returned_after_each(config, space, trials, ladder),
        test=test,
        test_note=test_note,
        sizes=sizes,
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


@dataclass(frozen=True)
class NetworkShape:
    """The networks a study measures: their width and depth, and the data they take."""

    channels: int
    cells_per_stage: int
    num_classes: int
    input_size: int
    input_channels: int
    note: str


def network_shape(evaluator: dict[str, str]) -> NetworkShape | None:
    """The network the study trains (or NB201 records), as far as its config says; ``None``
    when it says nothing of it (an evaluator of one's own, with no training recipe)."""
    if evaluator.get("benchmark") == "nb201":
        classes, size = DATASET_SHAPES[evaluator["dataset"]]
        note = f"NB201 network (C=16, N=5) on {evaluator['dataset']}"
        return NetworkShape(16, 5, classes, size, 3, note)
    if "recipe" not in evaluator:
        return None
    recipe = json.loads(evaluator["recipe"])
    channels, cells = recipe.get("channels", 16), recipe.get("cells_per_stage", 5)
    data = evaluator.get("data", "")
    classes, size, inputs = REAL_DATA_SHAPES.get(data, FOLDER_SHAPE)
    note = f"the recipe's network (C={channels}, N={cells}), {classes} classes, "
    note += f"{size}x{size}x{inputs} inputs" + ("" if data in REAL_DATA_SHAPES else " assumed")
    return NetworkShape(channels, cells, classes, size, inputs, note)


def network_sizes(space: SearchSpace, evaluator: dict[str, str]) -> NetworkSizes | None:
    """Params and FLOPs of the study's networks: NB201's from its size tables (all 15,625 cells
    at once), any other space's counted on the network it builds (imports torch); ``None``
    where the study does not say which networks it measured."""
    shape = network_shape(evaluator)
    if shape is None:
        return None
    if isinstance(space, NB201Space):
        params, flops = all_params_and_flops(
            shape.num_classes,
            shape.input_size,
            channels=shape.channels,
            cells_per_stage=shape.cells_per_stage,
            input_channels=shape.input_channels,
        )

        def tabled(arch: Arch) -> tuple[float, float]:
            index = space.index(arch)
            return float(params[index]), float(flops[index])

        return NetworkSizes(tabled, shape.note)
    counted = functools.partial(_counted, space, shape)
    return NetworkSizes(functools.cache(counted), f"{shape.note}, counted on {space.name} networks")


def _counted(space: SearchSpace, shape: NetworkShape, arch: Arch) -> tuple[float, float]:
    from pmfnas.spaces.counting import count_parameters

    sizes = {
        "channels": shape.channels,
        "cells_per_stage": shape.cells_per_stage,
        "num_classes": shape.num_classes,
        "input_channels": shape.input_channels,
    }
    params = count_parameters(space.network(arch, **sizes))
    return params / 1e6, space.forward_flops(arch, input_size=shape.input_size, **sizes) / 1e6


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
    if type(strategy).best is BaseStrategy.best or not _replay(strategy, trials):
        return _default_rule(trials)
    return anytime_best(strategy, trials, [t.clock for t in trials])


def _default_rule(trials: Sequence[Trial]) -> list[Trial | None]:
    """:func:`best_evidence` after each trial, in one pass: it picks a maximum, so the pick
    after a trial is that of the previous pick and the trial."""
    returned: list[Trial | None] = []
    pick: Trial | None = None
    for trial in trials:
        pick = best_evidence([trial] if pick is None else [pick, trial])
        returned.append(pick)
    return returned


def _replay(strategy: BaseStrategy, trials: Sequence[Trial]) -> bool:
    """Ask and tell the stored trials in order; ``False`` if the strategy asks something else."""
    strategy.budget_left = math.inf
    for trial in trials:
        request = strategy.ask()
        if request is None or (request.arch, request.fidelity) != (trial.arch, trial.fidelity):
            return False
        strategy.tell(trial)
    return True
