"""Run the ``pmfnas`` command in-process, as the console script would, and capture its output."""

from __future__ import annotations

import sys

import pytest

from pmfnas.cli import main


def exit_code(*argv: str) -> int:
    """The exit code of ``pmfnas *argv``."""
    with pytest.raises(SystemExit) as exit_info:
        main([*argv])
        sys.exit(0)
    return exit_info.value.code


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``pmfnas *argv``."""
    code = exit_code(*argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
