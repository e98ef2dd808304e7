"""``pmfnas studies``, ``pmfnas trials``, ``pmfnas best``: browse the studies of a storage file."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from pmfnas.cli.common import (
    DataDirOption,
    app,
    final_row,
    fmt,
    nb201_source,
    out,
    print_fields,
)
from pmfnas.cli.guards import json_option, output_file, write_json
from pmfnas.tables.nb301 import surrogate_folder

StorageOption = Annotated[
    Path, typer.Option("--storage", help="SQLite file written by --storage (opened read-only).")
]
StudyOption = Annotated[
    str | None, typer.Option(help="Study inside the file (default: its only study).")
]


class Format(StrEnum):
    """Choices of ``pmfnas trials --format``."""

    CSV = "csv"
    JSON = "json"


@app.command()
def studies(
    storage: StorageOption,
    json_out: Annotated[Path | None, json_option("the list")] = None,
) -> None:
    """List the studies of a storage file: what each searches, its trials, the architecture it
    returned and its state (finished, interrupted or running)."""
    from pmfnas.runs.stored import overview, read_studies

    rows = [overview(study) for study in read_studies(storage, every=True)]
    if json_out:
        write_json(json_out, rows)
        return
    lines = [["study", "strategy", "space", "data", "trials", "best val acc", "state", "returned"]]
    for row in rows:
        data = f"{row['benchmark']}/{row['data']}" if row["benchmark"] else row["data"]
        count = row["trials"]
        count = f"{count} + {row['in_flight']} in flight" if row["in_flight"] else count
        acc = f"{fmt(row['val_acc'])} ({row['fidelity']})" if row["val_acc"] is not None else "n/a"
        cells = [
            row["study"],
            row["strategy"],
            row["space"],
            data,
            count,
            acc,
            row["state"],
        ]
        lines.append([*map(str, cells), row["arch"] or "none yet"])
    widths = [max(len(line[k]) for line in lines) for k in range(len(lines[0]))]
    for line in lines:  # never wrapped or cut, so an architecture can be copied whole
        text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        out.print(text.rstrip(), soft_wrap=True, markup=False, highlight=False)


@app.command()
def trials(
    storage: StorageOption,
    study: StudyOption = None,
    file_format: Annotated[
        Format, typer.Option("--format", help="csv (one row per trial) or json (with curves).")
    ] = Format.CSV,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: stdout).", callback=output_file),
    ] = None,
) -> None:
    """Export the trials of a stored study, in the order they ran, then the evaluations in
    flight (state running, or interrupted where the run that submitted them stopped)."""
    from pmfnas.runs.stored import in_flight_records, read_studies, trial_records, trial_table

    [found] = read_studies(storage, study)
    records = trial_records(found.space, found.trials) + in_flight_records(found)
    if file_format is Format.JSON:
        text = json.dumps(records, indent=2) + "\n"
    else:
        columns, rows = trial_table(records)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        text = buffer.getvalue()
    _write(text, out_file)


@app.command()
def best(
    storage: StorageOption,
    study: StudyOption = None,
    json_out: Annotated[Path | None, json_option("the summary")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print the architecture a stored study returned: the one its search's summary named."""
    from pmfnas.runs.stored import read_studies, returned_summary

    [found] = read_studies(storage, study)
    summary = returned_summary(found, nb201_source(data_dir), surrogate_folder(data_dir))
    if json_out:
        write_json(json_out, summary)
        return
    rows: dict[str, Any] = {
        "architecture": summary["arch"],
        "NATS index": str(summary["index"]),
        f"validation accuracy ({summary['fidelity']})": fmt(summary["val_acc"]),
        **final_row(summary),
        "test accuracy": fmt(summary["test_acc"]),
        "trial": str(summary["trial"]),
        "state": found.state,
    }
    if summary["index"] is None:  # a space without NATS indices
        del rows["NATS index"]
    if "final_fidelity" in summary:  # the surrogate predicts validation accuracy only
        del rows["test accuracy"]
    print_fields(f"study {found.name}: {summary['strategy']}, seed {summary['seed']}", rows)


def _write(text: str, path: Path | None) -> None:
    """``text`` (CSV or JSON) to the file ``path``, or to stdout for none or ``-``."""
    if path is None or str(path) == "-":
        sys.stdout.write(text)
    else:
        path.write_text(text)
