"""The architecture a stored study returns, read back without running it: the study's strategy is
rebuilt from its stored config and applies its own ``best`` rule, as the search did; and the
network sizes a strategy with size limits counts.

``pmfnas report``, ``pmfnas best`` and ``pmfnas studies`` all name the architecture through
this module, so they agree with each other and with the search's own summary.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder, NetworkSize
from pmfnas.spaces import DartsSpace, NB201Space, SearchSpace
from pmfnas.spaces.darts.costs import params_and_flops as darts_costs
from pmfnas.spaces.nb201.costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import AskContext, BaseStrategy, best_evidence
from pmfnas.study import anytime_best
from pmfnas.types import Arch, Request, Trial

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
    if evaluator.get("benchmark") == "nb301":
        return NetworkShape(36, 6, 10, 32, 3, "DARTS evaluation network (C=36, 20 cells), CIFAR-10")
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
    if isinstance(space, DartsSpace):  # counted analytically: no network is built

        def analytic(arch: Arch) -> tuple[float, float]:
            params, flops = darts_costs(
                arch,
                channels=shape.channels,
                cells_per_stage=shape.cells_per_stage,
                num_classes=shape.num_classes,
                input_size=shape.input_size,
                input_channels=shape.input_channels,
            )
            return params / 1e6, flops / 1e6

        return NetworkSizes(functools.cache(analytic), shape.note)
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


def returned_trial(
    config: dict[str, Any], space: SearchSpace, trials: Sequence[Trial]
) -> Trial | None:
    """The trial the study returned: its strategy's rule over the trials that measured what
    they asked (a trial stopped at the budget or failed is no evidence), as
    :meth:`pmfnas.study.Study.run` does; a one-shot search's latest epoch."""
    if "oneshot" in config:  # each epoch's trial is the cell the search held then
        return trials[-1] if trials else None
    evidence = [t for t in trials if t.measured]
    sizes = network_sizes(space, config.get("evaluator", {}))
    ladder = Ladder(network_size=sizes.of) if sizes else None
    strategy = _rebuilt(config, space, trials, ladder)
    return strategy.best(evidence) if strategy else best_evidence(evidence)


def returned_after_each(
    config: dict[str, Any],
    space: SearchSpace,
    trials: Sequence[Trial],
    ladder: Ladder | None = None,
) -> list[Trial | None]:
    """The strategy's own ``best`` rule applied after each trial, as ``pmfnas bench`` does
    (``ladder`` counts sizes for a strategy with size limits). A one-shot search returns the
    cell of its latest epoch."""
    if "oneshot" in config:
        return list(trials)
    strategy = _rebuilt(config, space, trials, ladder)
    if strategy is None or type(strategy).best is BaseStrategy.best:
        return _default_rule(trials)
    return anytime_best(strategy, trials, [t.clock for t in trials])


def _rebuilt(
    config: dict[str, Any], space: SearchSpace, trials: Sequence[Trial], ladder: Ladder | None
) -> BaseStrategy | None:
    """The study's strategy, ready to apply its ``best`` rule to ``trials``; ``None`` for the
    default rule.

    A strategy with its own rule (MFNAS picks from its population) is first replayed through
    the trials; one whose replay differs from the stored history, or that this version cannot
    rebuild from its stored parameters, gets the default rule.
    """
    try:
        strategy = create_strategy(
            config["strategy"],
            space,
            seed=config.get("seed", 0),
            ladder=ladder,
            **config.get("params", {}),
        )
    except ConfigError:
        return None
    if type(strategy).best is not BaseStrategy.best and not _replay(strategy, trials):
        return None
    return strategy


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
    """Ask and tell the stored trials the study told, in order; ``False`` if the strategy asks
    something else."""
    for trial in (t for t in trials if t.told):
        request = strategy.ask(AskContext(math.inf))
        if not isinstance(request, Request) or (request.arch, request.fidelity) != (
            trial.arch,
            trial.fidelity,
        ):
            return False
        strategy.tell(trial)
    return True
