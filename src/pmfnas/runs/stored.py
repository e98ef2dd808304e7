"""Stored studies read back for people and scripts: what a storage file holds and how each study
stands, its trials as records (JSON) or flat rows (CSV), and the architecture it returned.

Everything here opens the file read-only, so it may run while a search writes the file (it sees
the trials committed so far).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmfnas.errors import DataError, StorageError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.runs.returned import returned_trial
from pmfnas.spaces import DEFAULT_SPACE, SearchSpace, create_space, index_or_none
from pmfnas.storage import UNRECORDED, RunningTrial, Storage
from pmfnas.study import INTERRUPTED
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.types import Arch, Trial

SIGNIFICANT_DIGITS = 6
"""Floats in exports keep this many significant digits: the stored doubles' last digits are
noise of the arithmetic, not measurement."""

TRIAL_COLUMNS = (
    "number", "state", "arch", "index", "fidelity", "cost", "clock", "started", "finished",
    "seconds", "reason",
)  # fmt: skip
"""The first columns of a CSV export; ``metrics.*`` and ``info.*`` columns follow."""


@dataclass(frozen=True)
class StoredStudy:
    """One study of a storage file, with its returned trial and how its last run stands."""

    name: str
    config: dict[str, Any]
    space: SearchSpace
    trials: list[Trial]
    returned: Trial | None
    state: str
    """``running`` (a live process holds it), ``finished``, ``interrupted`` (stopped by an
    interrupt, killed or failed: a rerun resumes it) or ``unknown`` (stored before pmfnas
    recorded it)."""
    stop_reason: str | None
    in_flight: list[RunningTrial]
    """Evaluations submitted and not finished: running now, or, in an interrupted study, those
    its run left (a rerun evaluates them again)."""


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


def read_studies(
    path: str | Path, name: str | None = None, *, every: bool = False
) -> list[StoredStudy]:
    """Study ``name`` of ``path`` (by default its only one), or with ``every`` all of them."""
    with Storage(path, read_only=True) as storage:
        names = [n for n, _ in storage.studies()] if every else [choose_study(storage, name)]
        return [_read(storage, n) for n in names]


def _read(storage: Storage, name: str) -> StoredStudy:
    config, trials = storage.load(name)
    space = create_space(config.get("space", DEFAULT_SPACE))
    reason = storage.stop_reason(name)
    if storage.running(name):
        state = "running"
    elif reason == UNRECORDED:
        state = "unknown"
    elif reason is None or reason == INTERRUPTED:  # None: the last run never ended
        state = "interrupted"
    else:
        state = "finished"
    returned = returned_trial(config, space, trials)
    return StoredStudy(
        name, config, space, trials, returned, state, reason, storage.in_flight(name)
    )


def overview(study: StoredStudy) -> dict[str, Any]:
    """One line of ``pmfnas studies``: what the study searches, how far it got, what it found."""
    evaluator = study.config.get("evaluator", {})
    best = study.returned
    return rounded(
        {
            "study": study.name,
            "strategy": study.config.get("strategy"),
            "space": study.space.name,
            "benchmark": evaluator.get("benchmark"),
            "data": evaluator.get("dataset") or evaluator.get("data"),
            "trials": len(study.trials),
            "in_flight": len(study.in_flight),
            "val_acc": best.metrics.get("val_acc") if best else None,
            "fidelity": str(best.fidelity) if best else None,
            "arch": study.space.format(best.arch) if best else None,
            "state": study.state,
            "stop_reason": study.stop_reason,
        }
    )


def returned_summary(
    study: StoredStudy, source: Path | None = None, surrogate: Path | None = None
) -> dict[str, Any]:
    """The returned architecture as the search's summary gave it (a :class:`StorageError` when
    the study has none); ``source`` is the NB201 folder for a tabular study's test accuracy,
    ``surrogate`` NAS-Bench-301's for a surrogate study's ``final_val_acc``."""
    best = study.returned
    if best is None:
        raise StorageError(
            f"study {study.name!r} has no returned architecture yet ({len(study.trials)} trials, "
            "none its strategy's rule accepts)"
        )
    return rounded(
        {
            "study": study.name,
            "strategy": study.config.get("strategy"),
            "seed": study.config.get("seed"),
            "arch": study.space.format(best.arch),
            "index": index_or_none(study.space, best.arch),
            "fidelity": str(best.fidelity),
            "val_acc": best.metrics.get("val_acc"),
            "test_acc": _test_accuracy(study, best, source),
            "trial": best.number,
            "state": study.state,
            **_surrogate_final(study, best, surrogate),
        }
    )


def _surrogate_final(study: StoredStudy, best: Trial, folder: Path | None) -> dict[str, Any]:
    """The returned genotype after the full 98 epochs, as the search reported it, for a study
    the surrogate scores (:func:`scored_by_surrogate`); nothing for another study."""
    if not scored_by_surrogate(study.config, study.space):
        return {}
    from pmfnas.evaluators.nb301 import NB301_LADDER

    final = surrogate_final_accuracy(study.config.get("evaluator", {}), best.arch, folder)
    return {"final_fidelity": str(NB301_LADDER.high), "final_val_acc": final}


def scored_by_surrogate(config: dict[str, Any], space: SearchSpace) -> bool:
    """Whether NAS-Bench-301's surrogate scores the study's returned genotype: a search of the
    surrogate, or a one-shot search of the DARTS space (no test accuracy exists for either)."""
    surrogate = config.get("evaluator", {}).get("benchmark") == "nb301"
    return surrogate or ("oneshot" in config and space.name == "darts")


def surrogate_final_accuracy(
    evaluator: dict[str, str], arch: Arch, folder: Path | None
) -> float | None:
    """NAS-Bench-301's predicted 98-epoch validation accuracy of ``arch`` for a study the
    surrogate scores (``evaluator`` its stored description): from ``folder``, else the default
    surrogate, else the one the study was searched on; ``None`` where none can be read."""
    from pmfnas.evaluators.nb301 import predicted_final_accuracy

    folders = [folder] if folder else [None, evaluator.get("source")]
    return predicted_final_accuracy(arch, folders)


def _test_accuracy(study: StoredStudy, best: Trial, source: Path | None) -> float | None:
    """The test accuracy the search reported: measured after the training, or the table's
    (``None`` where the NB201 data cannot be read)."""
    if "test_acc" in best.info:
        return best.info["test_acc"]
    evaluator = study.config.get("evaluator", {})
    if evaluator.get("benchmark") != "nb201":
        return None
    try:
        bench = study_benchmark(evaluator, source)
    except DataError:
        return None
    protocol = evaluator.get("protocol", "default")
    return TabularEvaluator(bench, evaluator["dataset"], protocol=protocol).test_accuracy(best.arch)


def study_benchmark(evaluator: dict[str, str], source: Path | None) -> NB201Benchmark:
    """The NB201 tables of a tabular study: from the folder ``source``, else the default one
    (``$PMFNAS_DATA``), else the one the study was searched on; a :class:`DataError` with the
    last reason when none can be read."""
    tries = [source] if source else [None, Path(evaluator.get("source", ""))]
    for folder in tries[:-1]:
        try:
            return NB201Benchmark.load(folder)
        except DataError:
            pass
    return NB201Benchmark.load(tries[-1])


def trial_records(space: SearchSpace, trials: list[Trial]) -> list[dict[str, Any]]:
    """Every trial as a JSON-ready record, in the order they ran."""
    return [
        rounded(
            {
                "number": t.number,
                "state": t.state.value,
                "arch": space.format(t.arch),
                "index": index_or_none(space, t.arch),
                "fidelity": str(t.fidelity),
                "cost": t.cost,
                "clock": t.clock,
                "started": _moment(t.started),
                "finished": _moment(t.finished),
                "seconds": round(t.finished - t.started, 3),
                "reason": t.reason,
                "metrics": t.metrics,
                "info": t.info,
                "curve": list(t.curve),
            }
        )
        for t in trials
    ]


def in_flight_records(study: StoredStudy) -> list[dict[str, Any]]:
    """The study's evaluations in flight as trial records: ``running`` in a live study,
    ``interrupted`` in a stopped one (its rerun evaluates them again); ``started`` is when the
    evaluation was submitted, ``info`` holds its ticket and its worker's last heartbeat."""
    state = "running" if study.state == "running" else "interrupted"
    records = []
    for left in study.in_flight:
        arch = study.space.parse(left.arch)
        info = {"ticket": left.ticket, "heartbeat": _moment(left.heartbeat)}
        records.append(
            {"number": None, "state": state, "arch": left.arch,
             "index": index_or_none(study.space, arch), "fidelity": left.fidelity,
             "cost": None, "clock": None, "started": _moment(left.submitted), "finished": None,
             "seconds": None, "reason": "", "metrics": {}, "info": info, "curve": []}
        )  # fmt: skip
    return records


def trial_table(records: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The records as CSV columns and rows: one column per metric and per info key (a value
    that is no single number or text as JSON); the learning curves are left to the JSON."""
    metrics = sorted({key for r in records for key in r["metrics"]})
    info = sorted({key for r in records for key in r["info"]})
    columns = [*TRIAL_COLUMNS, *(f"metrics.{k}" for k in metrics), *(f"info.{k}" for k in info)]
    rows = [
        [
            *(r[c] for c in TRIAL_COLUMNS),
            *(r["metrics"].get(k) for k in metrics),
            *(_cell(r["info"].get(k)) for k in info),
        ]
        for r in records
    ]
    return columns, rows


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _moment(timestamp: float) -> str:
    """A stored wall time as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def rounded(value: Any) -> Any:
    """``value`` with every float to :data:`SIGNIFICANT_DIGITS` (NaN and infinities, which JSON
    lacks, as ``None``), in nested dicts and lists too."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: rounded(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value
