"""What a command checks before its work (output paths) and says when it is interrupted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def on_interrupt(message: Callable[[], str]) -> Iterator[None]:
    """Turn Ctrl-C or SIGTERM inside the block into :class:`~pmfnas.errors.Interrupted` with
    ``message()``, composed when it happens: what was kept and how to resume."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(message()) from None
