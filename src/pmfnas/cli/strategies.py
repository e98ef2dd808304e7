"""``pmfnas strategies``: the registered strategies and their ``-o KEY=VALUE`` parameters."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pmfnas.cli.common import app, out


@app.command("strategies")
def strategies(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="One strategy to show in full (default: list all)."),
    ] = None,
) -> None:
    """List the search strategies, one-shot methods included, with their parameters, types
    and defaults (set them with -o KEY=VALUE in search, -o STRATEGY.KEY=VALUE in bench)."""
    from pmfnas.oneshot import ONESHOT
    from pmfnas.strategies import STRATEGIES
    from pmfnas.strategies.parameters import parameters, summary

    names = [name] if name else [*STRATEGIES.names(), *ONESHOT.names()]
    for shown in names:
        oneshot = shown in ONESHOT.names()
        cls = ONESHOT.get(shown) if oneshot else STRATEGIES.get(shown)
        kind = " (one-shot)" if oneshot else ""
        table = Table(title=Text(f"{shown}{kind}: {summary(cls)}"), title_justify="left")
        for column in ("parameter", "type", "default"):
            table.add_column(column, no_wrap=True)
        table.add_column("meaning")
        for p in parameters(cls):
            meaning = p.doc if name else p.summary
            table.add_row(*map(Text, (p.name, p.type_name, _default(p.default), meaning)))
        out.print(table)
        out.print()


def _default(value: object) -> str:
    """A default as the user would write it after ``-o KEY=``; ``-`` where the strategy takes
    it from elsewhere (the evaluator, the study), and ``required`` where there is none."""
    if value is inspect.Parameter.empty:
        return "required"
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)
