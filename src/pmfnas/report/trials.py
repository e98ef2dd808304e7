"""The trials of a study report: every one in a CSV file beside the page, and on the page those
most worth a look, few enough that the page stays small and sorts at once.

A tabular PMF study holds some 15,700 trials, nearly all proxy scores; listed whole, they made a
12 MB page that took seconds to sort.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from pmfnas.report.html import Table
from pmfnas.report.study_data import StudyData
from pmfnas.runs import stored
from pmfnas.strategies.base import scale_free_sum
from pmfnas.types import Trial

PAGE_ROWS = 500
"""Trials the page lists at most (the CSV has them all)."""
CSV = "trials.csv"


def page_trials(data: StudyData, limit: int = PAGE_ROWS) -> list[Trial]:
    """The trials the page lists, in study order: all of them if they fit, else ``limit`` of
    them: the returned one, the trainings best first (highest fidelity, then validation
    accuracy), then the proxy trials best first (highest proxy fidelity, then the sum of their
    scale-free scores, as successive halving ranks a proxy rung)."""
    if len(data.trials) <= limit:
        return list(data.trials)
    trained = [t for t in data.trials if not t.fidelity.is_proxy]
    trained.sort(key=lambda t: (t.fidelity, t.metrics.get("val_acc", -math.inf)), reverse=True)
    ranked = [t.number for t in ([data.best] if data.best else []) + trained]
    for fidelity in sorted({t.fidelity for t in data.trials if t.fidelity.is_proxy}, reverse=True):
        scored = [
            t
            for t in data.trials
            if t.fidelity == fidelity and set(fidelity.proxies) <= set(t.metrics)
        ]
        score = scale_free_sum(scored, fidelity.proxies) if scored else []
        order = sorted(range(len(scored)), key=lambda i: (-score[i], scored[i].number))
        ranked += [scored[i].number for i in order]
    shown = set(list(dict.fromkeys(ranked))[:limit])
    return [t for t in data.trials if t.number in shown]


def trial_table(data: StudyData, trials: list[Trial]) -> Table:
    """One row per trial: what ran, what it measured (validation accuracy, and proxy scores or
    training losses in the other metrics), what it cost and why it ran."""
    rows = []
    for t in trials:
        others = ", ".join(f"{k} {v:.4g}" for k, v in t.metrics.items() if k != "val_acc")
        rows.append(
            [
                t.number,
                data.space.format(t.arch),
                str(t.fidelity),
                t.state.value,
                t.metrics.get("val_acc"),
                others,
                t.cost,
                t.clock,
                t.reason,
                data.test.get(t.number),
            ]
        )
    columns = ["#", "architecture", "fidelity", "state", "val acc", "other metrics", "cost (s)"]
    columns += ["clock (s)", "reason", "test acc"]
    return Table(columns, rows, digits={"clock (s)": 1})


def write_trials_csv(data: StudyData, path: Path) -> Path:
    """Every trial, one row each, in the columns of ``pmfnas trials`` and its test accuracy
    where known."""
    columns, rows = stored.trial_table(stored.trial_records(data.space, data.trials))
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([*columns, "test_acc"])
        for t, row in zip(data.trials, rows, strict=True):
            writer.writerow([*row, data.test.get(t.number, "")])
    return path


def shown_note(data: StudyData, shown: int) -> str:
    """What the page's table lists, and where the rest is."""
    total = len(data.trials)
    if shown == total:
        return f"Every trial in the order it ran (also in {CSV})."
    return (
        f"{shown} of the {total} trials, in the order they ran: the returned one, then the "
        "trainings with the best validation accuracy at the highest fidelity, then the "
        f"best-scored proxy trials. All {total} are in {CSV}."
    )
