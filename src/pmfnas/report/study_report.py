"""``pmfnas report``: one study of a storage file as a self-contained HTML page plus its PNGs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pmfnas.outputs import writable_folder
from pmfnas.report.cell import plot_cell
from pmfnas.report.figures import plot_pareto, plot_predictions, plot_study_anytime
from pmfnas.report.funnel import decisions, funnel, plot_funnel
from pmfnas.report.html import Section, Table, write_html
from pmfnas.report.reasons import prediction
from pmfnas.report.study_data import StudyData, load_study
from pmfnas.spaces import index_or_none
from pmfnas.study import trials_per_fidelity
from pmfnas.types import Trial

PAGE = "report.html"
FIGURES = ("anytime.png", "funnel.png", "pareto.png", "predictions.png", "cell.png")


def write_study_report(
    path: str | Path, out: str | Path, study: str | None = None, source: Path | None = None
) -> Path:
    """Write ``report.html`` and the figures of study ``study`` of ``path`` into ``out``.

    ``source`` is the NB201 data folder for test accuracies of tabular studies. A figure that
    has nothing to show is left out, with a note on the page saying why.
    """
    data = load_study(path, study, source)
    out = writable_folder(Path(out), "report folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:  # a figure left out this time must not linger from an earlier report
        (out / name).unlink(missing_ok=True)
    sections = [
        _anytime(data, out / "anytime.png"),
        *funnel_sections(data.trials, out / "funnel.png", f"Fidelity funnel: {data.title}"),
        _pareto(data, out / "pareto.png"),
        _predictions(data.trials, out / "predictions.png"),
        _cell(data, out / "cell.png"),
        Section("Trials", note=_table_note(data), table=trial_table(data)),
    ]
    return write_html(out / PAGE, data.title, _facts(data), sections)


def _facts(data: StudyData) -> dict[str, str]:
    space = data.space
    counts = trials_per_fidelity(data.trials)
    facts = {
        "storage": data.storage,
        "study": data.name,
        "strategy": str(data.config.get("strategy")),
        "parameters": json.dumps(data.config.get("params", {}), sort_keys=True),
        "seed": str(data.config.get("seed")),
        "evaluator": "; ".join(f"{k}={v}" for k, v in data.config.get("evaluator", {}).items()),
        "trials": f"{len(data.trials)} ({', '.join(f'{k}: {v}' for k, v in counts.items())})",
        "spent": f"{data.trials[-1].clock:.1f} s ({'simulated' if data.tabular else 'wall clock'})",
        "test accuracy": data.test_note,
    }
    best = data.best
    if best is None:
        facts["returned architecture"] = "none (no evidence the strategy's rule accepts)"
        return facts
    index = index_or_none(space, best.arch)
    where = f"trial {best.number}" if index is None else f"index {index}, trial {best.number}"
    facts["returned architecture"] = f"{space.format(best.arch)} ({where})"
    if "val_acc" in best.metrics:
        facts["its validation accuracy"] = f"{best.val_acc:.2f} ({best.fidelity})"
    test = data.test.get(best.number)
    facts["its test accuracy"] = "n/a" if test is None else f"{test:.2f}"
    return facts


def _anytime(data: StudyData, png: Path) -> Section:
    title = "Anytime accuracy"
    if plot_study_anytime(data, png):
        note = (
            "Best validation accuracy seen so far at each training fidelity, and the test "
            "accuracy of the architecture the strategy's own rule would have returned had the "
            f"search stopped there. {data.test_note}."
        )
        return Section(title, figure=png, note=note)
    return Section(title, note="Omitted: no trial has a validation or test accuracy.")


def funnel_sections(trials: Sequence[Trial], png: Path, title: str) -> list[Section]:
    """The funnel figure and its table, and the decisions the strategy noted, if any."""
    levels = funnel(trials)
    plot_funnel(levels, png, title)
    kinds = list(dict.fromkeys(k for level in levels for k in level.categories))
    table = Table(
        ["fidelity", "trials", "candidates", "promoted onwards", "stopped here", *kinds],
        [
            [
                str(lv.fidelity),
                lv.trials,
                lv.candidates,
                lv.promoted,
                lv.stopped,
                *(lv.categories.get(k, 0) for k in kinds),
            ]
            for lv in levels
        ],
    )
    note = (
        "A candidate is promoted onwards if it was also evaluated at a higher fidelity, else it "
        "stopped at its highest one. The last columns count candidates by why they first came to "
        "a fidelity, as the strategy stated it with each request."
    )
    sections = [Section(title, figure=png, note=note, table=table)]
    if noted := decisions(trials):
        items = [f"trial {number}: {text}" for number, text in noted]
        sections.append(Section("Decisions noted by the strategy", items=items))
    return sections


def _pareto(data: StudyData, png: Path) -> Section:
    title = "Accuracy against network size"
    if data.space.name != "nb201":  # the sizes come from NB201's cost tables
        return Section(title, note=f"Omitted: no size tables of {data.space.name} networks yet.")
    if plot_pareto(data, png):
        note = (
            f"One point per evaluated architecture, sized as {data.size_note}; the Pareto front "
            "joins the architectures no other beats on both accuracy and size."
        )
        return Section(title, figure=png, note=note)
    return Section(title, note="Omitted: no architecture has a test or validation accuracy.")


def _predictions(trials: Sequence[Trial], png: Path) -> Section:
    title = "Predicted against measured accuracy"
    pairs = [
        (p, t.val_acc)
        for t in trials
        if "val_acc" in t.metrics and (p := prediction(t)) is not None
    ]
    if not pairs:
        return Section(title, note="Omitted: this strategy stored no predictions with its trials.")
    note = (
        "Each prediction the strategy made before running a trial (stored in its info), against "
        "the validation accuracy the trial then measured."
    )
    plot_predictions(pairs, png)
    return Section(title, figure=png, note=note)


def _cell(data: StudyData, png: Path) -> Section:
    title = "Returned cell"
    if data.best is None:
        return Section(title, note="Omitted: the strategy's rule accepts none of the trials.")
    if data.space.name != "nb201":
        return Section(title, note=f"Omitted: no drawing of {data.space.name} cells yet.")
    plot_cell(data.best.arch, png, data.space.format(data.best.arch))
    return Section(title, figure=png, note="Dashed edges are 'none' (they carry nothing).")


def _table_note(data: StudyData) -> str:
    return (
        f"Every trial in the order it ran; click a header to sort. Cost and clock are "
        f"{data.cost_label}; clock is the budget spent after the trial. {data.test_note}."
    )


def trial_table(data: StudyData) -> Table:
    """One row per trial: what ran, what it measured (validation accuracy, and proxy scores or
    training losses in the other metrics), what it cost and why it ran."""
    space = data.space
    rows = []
    for t in data.trials:
        others = ", ".join(f"{k} {v:.4g}" for k, v in t.metrics.items() if k != "val_acc")
        rows.append(
            [
                t.number,
                space.format(t.arch),
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
