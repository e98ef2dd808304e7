"""Everything a study report shows, read from a storage file without knowing the study's config.

Besides the stored trials: the architecture the strategy returns (and would have returned at each
earlier moment), each trial's test accuracy where it is known (NB201's 200-epoch test accuracy
for tabular studies, the measured one for real training) and the network sizes of the cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.errors import DataError, StorageError
from pmfnas.runs.returned import network_sizes, returned_after_each, sized
from pmfnas.runs.stored import choose_study, study_benchmark
from pmfnas.spaces import (
    DEFAULT_SPACE,
    EnumerableSpace,
    SearchSpace,
    create_space,
    require_enumerable,
)
from pmfnas.storage import Storage
from pmfnas.types import Trial


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
    dataset = evaluator["dataset"]
    try:
        bench = study_benchmark(evaluator, source)
    except DataError as exc:
        return {}, f"Test accuracy n/a: the NB201 data could not be read ({exc})"
    row = bench.array("test_acc_200", dataset)
    values = {t.number: float(row[space.index(t.arch)]) for t in trials}
    test = {number: v for number, v in values.items() if not math.isnan(v)}  # NaN: not recorded
    return test, f"NB201 test accuracy after 200 epochs on {dataset} (never used by the search)"
