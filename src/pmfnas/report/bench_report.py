"""``pmfnas bench --report``: the strategies of a bench compared on one self-contained HTML page.

The anytime plot, the summary and per-seed tables come from the bench's result; the funnel of
each strategy's first seed is read back from the storage file the bench wrote its runs to.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pmfnas.outputs import writable_folder
from pmfnas.report.anytime import plot_anytime
from pmfnas.report.html import Section, Table, write_html
from pmfnas.report.study_report import PAGE, funnel_sections, parameters_table
from pmfnas.runs.records import ANYTIME_FRACTIONS, REUSE_NOTES, BenchResult
from pmfnas.runs.spec import study_name
from pmfnas.storage import Storage
from pmfnas.study import CLOCK_TOLERANCE


@contextmanager
def report_storage(storage: str | Path | None) -> Iterator[Path]:
    """The storage file a bench report reads each strategy's funnel from: ``storage`` when given,
    else a scratch file removed afterwards (even after an error)."""
    if storage is not None:
        yield Path(storage)
        return
    with tempfile.TemporaryDirectory() as scratch:
        yield Path(scratch) / "bench.db"


def write_bench_report(result: BenchResult, storage: str | Path, out: str | Path) -> Path:
    """Write ``report.html``, ``anytime.png`` and one ``funnel-<strategy>.png`` per strategy
    into ``out``; ``storage`` holds the bench's runs (one study per strategy and seed)."""
    out = writable_folder(Path(out), "report folder")
    out.mkdir(parents=True, exist_ok=True)
    plot_anytime(result, out / "anytime.png")
    seeds = len(result.runs) // len(result.strategies)
    sections = [
        Section(
            "Anytime accuracy",
            figure=out / "anytime.png",
            note=f"Mean ± 1 std over seeds of the {result.final_note} of the architecture "
            "each strategy would have returned at that cost.",
        ),
        Section("Summary", note=f"{seeds} seeds per strategy.", table=_summary(result)),
        Section("Every run", table=_runs(result)),
        Section("Strategy parameters", table=_parameters(result)),
    ]
    with Storage(storage, read_only=True) as db:
        for name in result.strategies:
            seed = result.of(name)[0].seed
            study = study_name(name, result.dataset, seed, result.protocol, 1, result.benchmark)
            _, trials = db.load(study)
            trials = [t for t in trials if t.clock <= result.budget + CLOCK_TOLERANCE]
            title = f"Fidelity funnel: {name}, seed {seed}"
            sections += funnel_sections(trials, out / f"funnel-{name}.png", title)
    title = f"Bench: {', '.join(result.strategies)} on {result.benchmark} {result.dataset}"
    facts = {
        "budget": f"{result.budget:g} simulated s per search",
        "seeds": str(seeds),
        "protocol": result.protocol_note,
        "repeats": REUSE_NOTES[result.reuse],
        "compared by": result.final_note,
    }
    if result.space_best is not None:
        facts["best in the space"] = f"{result.space_best:.2f}"
    return write_html(out / PAGE, title, facts, sections)


def _parameters(result: BenchResult) -> Table:
    rows = [
        [name, *row]
        for name, params in result.params.items()
        for row in parameters_table(params).rows
    ]
    return Table(["strategy", "parameter", "value"], rows)


def _summary(result: BenchResult) -> Table:
    columns = [
        "strategy",
        "runs",
        f"{result.final_label} (mean)",
        "std",
        "regret",
        "cost (s)",
        "trials",
    ]
    columns += ["reused", *(f"@{f:.0%}" for f in ANYTIME_FRACTIONS)]
    rows = [
        [
            row["strategy"],
            row["runs"],
            row[result.final_key]["mean"],
            row[result.final_key]["std"],
            row["regret"],
            row["cost"],
            row["n_trials"],
            row["reused"],
            *(row["anytime"][str(f)]["mean"] for f in ANYTIME_FRACTIONS),
        ]
        for row in result.summary()
    ]
    return Table(columns, rows, digits={"cost (s)": 0, "trials": 1, "reused": 1})


def _runs(result: BenchResult) -> Table:
    columns = ["strategy", "seed", result.final_label, "val acc", "architecture", "NATS index"]
    columns += ["fidelity", "cost (s)", "trials", "reused"]
    rows = [
        [
            r.strategy,
            r.seed,
            r.final_acc,
            r.val_acc,
            r.arch,
            r.index,
            r.fidelity,
            r.cost,
            r.n_trials,
            r.reused,
        ]
        for r in result.runs
    ]
    return Table(columns, rows, digits={"cost (s)": 0})
