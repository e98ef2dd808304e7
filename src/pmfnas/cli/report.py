"""``pmfnas report``: one stored study as a self-contained HTML page with its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pmfnas.cli.common import DataDirOption, app, nb201_source, out
from pmfnas.cli.guards import output_folder


@app.command()
def report(
    storage: Annotated[Path, typer.Argument(help="SQLite file written by --storage.")],
    study: Annotated[
        str | None, typer.Option(help="Study inside the file (default: its only study).")
    ] = None,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for report.html, its PNG figures and trials.csv.",
            callback=output_folder,
        ),
    ] = Path("report"),
    data_dir: DataDirOption = None,
) -> None:
    """Write a self-contained HTML report of a stored search, and all its trials as CSV.

    Figures, the strategy's parameters and a sortable table of the most telling trials.
    A study of a space of one's own needs its module: pmfnas --plugin FILE.py report ...
    """
    from pmfnas.report.study_report import write_study_report

    page = write_study_report(storage, out_dir, study, nb201_source(data_dir))
    out.print(f"wrote {page}", markup=False, highlight=False, soft_wrap=True)
