"""``pmfnas report``: one stored study as a self-contained HTML page with its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pmfnas.cli.common import DataDirOption, app, nb201_source, out
from pmfnas.cli.guards import output_folder
from pmfnas.errors import ConfigError
from pmfnas.tables.nb301 import surrogate_folder


@app.command()
def report(
    storage: Annotated[
        Path | None,
        typer.Argument(help="SQLite file written by --storage.", show_default=False),
    ] = None,
    storage_option: Annotated[
        Path | None,
        typer.Option("--storage", help="The same file, named as the other commands name it."),
    ] = None,
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

    file = one_file(storage, storage_option)
    page = write_study_report(
        file, out_dir, study, nb201_source(data_dir), surrogate_folder(data_dir)
    )
    out.print(f"wrote {page}", markup=False, highlight=False, soft_wrap=True)


def one_file(argument: Path | None, option: Path | None) -> Path:
    """The storage file, given as the argument or as ``--storage`` (not two different ones)."""
    if argument and option and argument != option:
        raise ConfigError(f"two storage files given ({argument} and --storage {option}): give one")
    file = argument or option
    if file is None:
        raise ConfigError("name the storage file to report: pmfnas report runs.db")
    return file
