"""``pmfnas report``: one study of a storage file as a self-contained HTML page, its PNGs, and
every trial in a CSV file beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pmfnas.outputs import writable_folder
from pmfnas.report.cell import plot_cell
from pmfnas.report.figures import anytime_figure, pareto_figure, predictions_figure, save
from pmfnas.report.funnel import decisions, funnel, funnel_figure
from pmfnas.report.html import Section, Table, write_html
from pmfnas.report.reasons import prediction_pairs
from pmfnas.report.study_data import StudyData, load_study
from pmfnas.report.trials import CSV, page_trials, shown_note, trial_table, write_trials_csv
from pmfnas.runs.stored import scored_by_surrogate
from pmfnas.spaces import NB201Space, index_or_none
from pmfnas.study import trials_per_fidelity
from pmfnas.types import Trial

PAGE = "report.html"
FIGURES = ("anytime.png", "funnel.png", "pareto.png", "predictions.png", "cell.png")


def write_study_report(
    path: str | Path,
    out: str | Path,
    study: str | None = None,
    source: Path | None = None,
    surrogate: Path | None = None,
) -> Path:
    """Write ``report.html``, the figures and ``trials.csv`` of study ``study`` of ``path``
    into ``out``.

    ``source`` is the NB201 data folder for test accuracies of tabular studies, ``surrogate``
    NAS-Bench-301's for surrogate studies. A figure that has nothing to show is left out, with
    a note on the page saying why.
    """
    return write_report(load_study(path, study, source, surrogate), out)


def write_report(data: StudyData, out: str | Path) -> Path:
    """The report of a study already read (:func:`write_study_report` of a stored one)."""
    out = writable_folder(Path(out), "report folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:  # a figure left out this time must not linger from an earlier report
        (out / name).unlink(missing_ok=True)
    shown = page_trials(data)
    note = (
        f"{shown_note(data, len(shown))} Click a header to sort. Cost and clock are "
        f"{data.cost_label}; clock is the budget spent after the trial. {data.test_note}."
    )
    sections = [
        Section("Strategy parameters", table=parameters_table(data.config.get("params", {}))),
        _anytime(data, out / "anytime.png"),
        *(
            [Section("Fidelity funnel", note=ONESHOT_FUNNEL)]
            if data.oneshot
            else funnel_sections(data.trials, out / "funnel.png", f"Fidelity funnel: {data.title}")
        ),
        _pareto(data, out / "pareto.png"),
        _predictions(data.trials, out / "predictions.png"),
        _cell(data, out / "cell.png"),
        Section("Trials", note=note, table=trial_table(data, shown), link=CSV),
    ]
    write_trials_csv(data, out / CSV)
    return write_html(out / PAGE, data.title, _facts(data), sections)


ONESHOT_FUNNEL = (
    "Omitted: a one-shot search trains one supernet, and each epoch's derived cell is a trial "
    "of fidelity supernet=<epoch>; no candidate is promoted."
)


def parameters_table(params: dict[str, Any]) -> Table:
    """A strategy's parameters, one row each, values as written in its stored config (JSON)."""
    rows = [[k, v if isinstance(v, str) else json.dumps(v)] for k, v in sorted(params.items())]
    return Table(["parameter", "value"], rows)


def _facts(data: StudyData) -> dict[str, str]:
    space = data.space
    counts = trials_per_fidelity(data.trials)
    facts = {
        "storage": data.storage,
        "study": data.name,
        "strategy": str(data.config.get("strategy")),
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
    if scored_by_surrogate(data.config, space):
        final = (
            "n/a (the surrogate could not be read)" if data.final is None else f"{data.final:.2f}"
        )
        facts["its validation accuracy after 98 epochs (predicted)"] = final
        return facts
    test = data.test.get(best.number)
    facts["its test accuracy"] = "n/a" if test is None else f"{test:.2f}"
    return facts


def _anytime(data: StudyData, png: Path) -> Section:
    title = "Anytime accuracy"
    fig = anytime_figure(data)
    if fig is None:
        return Section(title, note="Omitted: no trial has a validation or test accuracy.")
    save(fig, png)
    note = (
        "Best validation accuracy seen so far at each training fidelity, and the test "
        "accuracy of the architecture the strategy's own rule would have returned had the "
        f"search stopped there. {data.test_note}."
    )
    return Section(title, figure=png, note=note)


def funnel_sections(trials: Sequence[Trial], png: Path, title: str) -> list[Section]:
    """The funnel figure and its table, and the decisions the strategy noted, if any."""
    levels = funnel(trials)
    save(funnel_figure(levels, title), png)
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
    if data.sizes is None:
        note = "Omitted: the study does not record the networks its evaluator measured."
        return Section(title, note=note)
    try:
        fig = pareto_figure(data)
    except Exception as exc:  # a space of one's own builds its networks with its own code
        why = f"{type(exc).__name__}: {exc}"
        return Section(
            title, note=f"Omitted: sizing the {data.space.name} networks failed ({why})."
        )
    if fig is None:
        return Section(title, note="Omitted: no architecture has a test or validation accuracy.")
    save(fig, png)
    note = (
        f"One point per evaluated architecture, sized as {data.sizes.note}; the Pareto front "
        "joins the architectures no other beats on both accuracy and size."
    )
    return Section(title, figure=png, note=note)


def _predictions(trials: Sequence[Trial], png: Path) -> Section:
    title = "Predicted against measured accuracy"
    pairs, stand_ins = prediction_pairs(trials)
    left_out = ""
    if stand_ins:
        numbers = ", ".join(str(t.number) for t in stand_ins)
        left_out = (
            f" Left out: trial{'s' if len(stand_ins) > 1 else ''} {numbers}, whose stored prediction is its architecture's own "
            "accuracy at a lower fidelity, carried over (PMF's first promotions, before any "
            "high-fidelity result to learn from): no prediction of the fidelity it ran at."
        )
    if not pairs:
        note = "Omitted: this strategy stored no predictions with its trials." + left_out
        return Section(title, note=note)
    save(predictions_figure(pairs), png)
    note = (
        "Each prediction the strategy made before running a trial (stored in its info), against "
        "the validation accuracy the trial then measured at the fidelity predicted: one series "
        "per predictor and fidelity." + left_out
    )
    return Section(title, figure=png, note=note)


def _cell(data: StudyData, png: Path) -> Section:
    title = "Returned cell"
    if data.best is None:
        return Section(title, note="Omitted: the strategy's rule accepts none of the trials.")
    text = data.space.format(data.best.arch)
    if not isinstance(data.space, NB201Space):
        return Section(title, note=f"{text} (pmfnas draws only NB201 cells as graphs).")
    plot_cell(data.best.arch, png, text)
    return Section(title, figure=png, note="Dashed edges are 'none' (they carry nothing).")
