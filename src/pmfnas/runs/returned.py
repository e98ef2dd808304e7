"""The architecture a stored study returns, read back without running it: the study's strategy is
rebuilt from its stored config and applies its own ``best`` rule, as the search did.

``pmfnas report``, ``pmfnas best`` and ``pmfnas studies`` all name the architecture through
this module, so they agree with each other and with the search's own summary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.spaces import EnumerableSpace, SearchSpace
from pmfnas.spaces.nb201.costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import BaseStrategy, best_evidence
from pmfnas.study import anytime_best
from pmfnas.types import Trial, TrialState

REAL_DATA_SHAPES: dict[str, tuple[int, int, int]] = {
    **{name: (classes, size, 3) for name, (classes, size) in DATASET_SHAPES.items()},
    "digits": (10, 8, 1),
    "fashion-mnist": (10, 28, 1),
}
"""Data name → (classes, image size, input channels) of the datasets pmfnas reads by name."""
FOLDER_SHAPE = (10, 32, 3)
"""Assumed for an image folder, whose shape the study config does not record."""


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


def returned_trial(
    config: dict[str, Any], space: SearchSpace, trials: Sequence[Trial]
) -> Trial | None:
    """The trial the study returned: its strategy's rule over the trials the search told it
    (a trial stopped at the budget is no evidence), as :meth:`pmfnas.study.Study.run` does; a
    one-shot search's latest epoch."""
    if "oneshot" in config:  # each epoch's trial is the cell the search held then
        return trials[-1] if trials else None
    evidence = [t for t in trials if t.state is not TrialState.STOPPED]
    params, flops, _ = network_sizes(config.get("evaluator", {}))
    strategy = _rebuilt(config, space, evidence, sized(space, params, flops))
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
    if strategy is None:
        return [best_evidence(trials[: n + 1]) for n in range(len(trials))]
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


def _replay(strategy: BaseStrategy, trials: Sequence[Trial]) -> bool:
    """Ask and tell the stored trials in order; ``False`` if the strategy asks something else."""
    strategy.budget_left = math.inf
    for trial in trials:
        request = strategy.ask()
        if request is None or (request.arch, request.fidelity) != (trial.arch, trial.fidelity):
            return False
        strategy.tell(trial)
    return True
