"""One self-contained HTML page from sections of figures, notes and tables.

Figures are embedded as base64 PNG and the only script is a few lines of inline table sorting, so
the page opens anywhere, offline, and can be mailed as a single file; a section may also link a
file written beside it (the full trial table), which only that file's reader needs.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

TEMPLATE = "report.html.j2"

Value = str | int | float | None


@dataclass(frozen=True)
class Table:
    """Rows of values; numbers sort as numbers, ``None`` shows as n/a and sorts first."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Value]]
    digits: dict[str, int] = field(default_factory=dict)
    """Decimals of a column's floats (default 2)."""


@dataclass(frozen=True)
class Section:
    """A heading with, in this order, an optional figure, note, bulleted list and table."""

    title: str
    figure: Path | None = None
    note: str = ""
    table: Table | None = None
    items: Sequence[str] = ()
    """A bulleted list (e.g. decisions noted by the strategy)."""
    link: str = ""
    """A file beside the page, linked after the note (its name, relative to the page)."""


def cell(value: Value, digits: int = 2) -> tuple[str, str, bool]:
    """(text shown, sort key, whether it is a number) of one table value."""
    if isinstance(value, str):
        return value, value, False
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a", "-Infinity", True
    if isinstance(value, int):
        return str(value), str(value), True
    return f"{value:.{digits}f}", repr(float(value)), True


def embed(png: Path) -> str:
    """A data URI, so the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def render(title: str, facts: dict[str, str], sections: Sequence[Section]) -> str:
    """The page's HTML (every value escaped)."""
    text = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    views = [
        {
            "title": s.title,
            "image": embed(s.figure) if s.figure else None,
            "alt": s.figure.name if s.figure else "",
            "note": s.note,
            "link": s.link,
            "bullets": list(s.items),
            "columns": list(s.table.columns) if s.table else [],
            "rows": _rows(s.table) if s.table else [],
        }
        for s in sections
    ]
    return env.from_string(text).render(title=title, facts=facts, sections=views)


def _rows(table: Table) -> list[list[tuple[str, str, bool]]]:
    return [
        [cell(v, table.digits.get(c, 2)) for c, v in zip(table.columns, row, strict=True)]
        for row in table.rows
    ]


def write_html(path: Path, title: str, facts: dict[str, str], sections: Sequence[Section]) -> Path:
    """Write the page to ``path`` and return it."""
    path.write_text(render(title, facts, sections), encoding="utf-8")
    return path
