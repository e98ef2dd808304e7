"""The ``pmfnas`` command line: thin wrappers that parse options, call the API and print.

Each command group lives in its own module and registers itself on the shared app.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pmfnas import __version__
from pmfnas.cli import arch, bench, export, proxies, report, search, train
from pmfnas.cli.common import app, err, out
from pmfnas.errors import PmfnasError

__all__ = ["app", "arch", "bench", "export", "main", "proxies", "report", "search", "train"]


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"pmfnas {__version__}")
        raise typer.Exit()


def _fail(message: str) -> None:
    """One plain line on stderr (no wrapping, no markup), then exit code 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2, never a traceback."""
    try:
        app(args=argv, standalone_mode=False)
    except PmfnasError as exc:
        _fail(str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors of the command line itself
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message)
