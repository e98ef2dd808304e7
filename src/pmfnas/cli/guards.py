"""What a command checks before its work (output paths), how it writes ``--json``, and what
it says when it is interrupted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from pmfnas.errors import Interrupted
from pmfnas.outputs import writable_file, writable_folder


def output_file(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Option callback: a file option that cannot be written fails while the options are read,
    before any work."""
    return value and writable_file(value, param.opts[0])


def output_folder(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Option callback: the same for a folder option (created later if missing)."""
    return value and writable_folder(value, param.opts[0])


STDOUT = Path("-")
"""``--json -``: the JSON goes to stdout, in place of the command's text (so that it can be piped)."""


def json_file(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Option callback of ``--json``: ``-`` is stdout, any other path is checked as
    :func:`output_file` checks it."""
    return value if value == STDOUT else output_file(param, value)


def json_option(what: str) -> Any:
    """The ``--json PATH`` option of a command that writes ``what`` as JSON: one meaning in
    every command."""
    return typer.Option(
        "--json",
        metavar="PATH",
        callback=json_file,
        help=f"Write {what} as JSON to PATH (-: to stdout, in place of the text).",
    )


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON in ``path``, or on stdout for :data:`STDOUT`."""
    text = json.dumps(value, indent=2)
    if path == STDOUT:
        print(text)
    else:
        path.write_text(text + "\n")


@contextmanager
def on_interrupt(message: Callable[[], str]) -> Iterator[None]:
    """Turn Ctrl-C or SIGTERM inside the block into :class:`~pmfnas.errors.Interrupted` with
    ``message()``, composed when it happens: what was kept and how to resume."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(message()) from None
