"""The ``pmfnas`` command line: thin wrappers that parse options, call the API and print.

Each command group lives in its own module and registers itself on the shared app.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import warnings
from collections.abc import Iterator
from types import FrameType
from typing import Annotated

import typer

from pmfnas import __version__
from pmfnas.cli import arch, bench, export, proxies, report, search, strategies, studies, train
from pmfnas.cli.common import app, err, out
from pmfnas.cli.plugins import load_plugin
from pmfnas.errors import Interrupted, PmfnasError

__all__ = [
    "app",
    "arch",
    "bench",
    "export",
    "main",
    "proxies",
    "report",
    "search",
    "strategies",
    "studies",
    "train",
]

INTERRUPTED = 130
"""The exit status of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report)."""


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            "--plugin",
            metavar="MODULE_OR_FILE.py",
            help="Import a module (its name, or the path of a .py file) before the command, so "
            "that the search spaces and strategies it registers are known. Repeatable.",
        ),
    ] = None,
) -> None:
    if version:
        out.print(f"pmfnas {__version__}")
        raise typer.Exit()
    for spec in plugin or []:
        load_plugin(spec)


def _line(message: str) -> str:
    """``message`` on one line: no wrapping, no markup."""
    return " ".join(str(message).split())


def _fail(message: str) -> None:
    """One plain line on stderr, then exit code 2."""
    print(f"error: {_line(message)}", file=sys.stderr)
    sys.exit(2)


def _interrupted(message: str = "") -> None:
    print(f"interrupted{': ' + _line(message) if message else ''}", file=sys.stderr)
    sys.exit(INTERRUPTED)


def _one_line_warning(message: Warning | str, *_: object, **__: object) -> None:
    """Show a warning as one ``warning:`` line, without the source line Python adds."""
    print(f"warning: {_line(str(message))}", file=sys.stderr)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _cli_process() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does, and warnings take one line each; both are undone
    afterwards, for callers (tests) that run the command inside their own process."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2, never a traceback; an
    interrupt (Ctrl-C, SIGTERM) becomes one ``interrupted`` line and exit code 130."""
    try:
        with _cli_process():
            code = app(args=argv, standalone_mode=False)
    except PmfnasError as exc:
        _fail(str(exc))
    except Interrupted as exc:  # a command that says what it kept and how to resume
        _interrupted(str(exc))
    except KeyboardInterrupt:
        _interrupted()
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(INTERRUPTED)
    except typer.TyperException as exc:  # usage errors of the command line itself
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message)
    # Without standalone mode typer returns the exit code of typer.Exit, and turns an interrupt
    # it catches itself into 130.
    if code == INTERRUPTED:
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)
