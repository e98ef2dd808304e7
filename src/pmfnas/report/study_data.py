"""Everything a study report shows, read from a storage file without knowing the study's config.

Besides the stored trials: the architecture the strategy returns (and would have returned at each
earlier moment), each trial's test accuracy where it is known (NB201's 200-epoch test accuracy
for tabular studies, the measured one for real training) and the network sizes of the
architectures (NB201's from its size tables, any other space's counted on the networks it builds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmfnas.errors import DataError, StorageError
from pmfnas.evaluators.base import Ladder
from pmfnas.runs.returned import NetworkSizes, network_sizes, returned_after_each
from pmfnas.runs.stored import (
    choose_study,
    scored_by_surrogate,
    study_benchmark,
    surrogate_final_accuracy,
)
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
    """The study's space, built from the name its config stores."""
    trials: list[Trial]
    tabular: bool
    """Whether a benchmark (NB201's tables, NB301's surrogate) answered it on a simulated clock."""
    returned: list[Trial | None]
    """The strategy's returned trial had the search stopped after each trial (same order)."""
    test: dict[int, float]
    """Test accuracy by trial number, where known."""
    test_note: str
    """What the test accuracy is, or why it is not known."""
    sizes: NetworkSizes | None
    """``None``: the config does not say which networks the study measured."""
    final: float | None = None
    """The returned genotype's predicted 98-epoch validation accuracy, where NAS-Bench-301's
    surrogate scores the study (:func:`~pmfnas.runs.stored.scored_by_surrogate`)."""

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
        if evaluator.get("benchmark") == "nb301":
            where = f"nb301 ({where})"
        return f"{self.config.get('strategy', '?')} on {where}: study {self.name}"


def load_study(
    path: str | Path,
    name: str | None = None,
    source: Path | None = None,
    surrogate: Path | None = None,
) -> StudyData:
    """Read study ``name`` (default: the only one) of ``path``; ``source`` is the NB201 data
    folder for test accuracies (default ``$PMFNAS_DATA/nb201``, then the one the study used),
    ``surrogate`` NAS-Bench-301's for a surrogate study's returned genotype (likewise)."""
    with Storage(path, read_only=True) as storage:
        name = choose_study(storage, name)
        config = dict(storage.studies()).get(name, {})
        space = create_space(config.get("space", DEFAULT_SPACE))  # built once, reads the trials
        config, trials = storage.load(name, space)
    return study_data(str(path), name, config, space, trials, source, surrogate)


def study_data(
    storage: str,
    name: str,
    config: dict[str, Any],
    space: SearchSpace,
    trials: list[Trial],
    source: Path | None = None,
    surrogate: Path | None = None,
) -> StudyData:
    """What the report shows of a study's stored ``config`` and ``trials``."""
    if not trials:
        raise StorageError(f"study {name!r} in {storage} has no trials to report")
    evaluator = config.get("evaluator", {})
    tabular = evaluator.get("benchmark") in ("nb201", "nb301")  # on a simulated clock
    surrogate_scored = scored_by_surrogate(config, space)
    if evaluator.get("benchmark") == "nb201":
        test, test_note = _tabular_test(
            trials, require_enumerable(space, "a tabular report"), evaluator, source
        )
    elif "oneshot" in config and space.name == "nb201":  # no training: the tables score cells
        test, test_note = _tabular_test(
            trials, require_enumerable(space, "a one-shot report"), {"dataset": "cifar10"}, source
        )
    elif surrogate_scored:
        test = {}
        test_note = "No test accuracy: NAS-Bench-301's surrogate predicts validation accuracy only"
    else:
        test = {t.number: float(t.info["test_acc"]) for t in trials if "test_acc" in t.info}
        test_note = "Test accuracy measured after each training (never used by the search)"
    sizes = network_sizes(space, evaluator)
    ladder = Ladder(network_size=sizes.of) if sizes else None  # for a strategy's size limits
    returned = returned_after_each(config, space, trials, ladder)
    final = None
    if surrogate_scored and returned and returned[-1] is not None:
        final = surrogate_final_accuracy(evaluator, returned[-1].arch, surrogate)
    return StudyData(
        storage=storage,
        name=name,
        config=config,
        space=space,
        trials=trials,
        tabular=tabular,
        returned=returned,
        test=test,
        test_note=test_note,
        sizes=sizes,
        final=final,
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
