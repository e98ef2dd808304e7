"""Run the ``pmfnas`` command in-process, as the console script would, and capture its output."""

from __future__ import annotations

import sys

import pytest

from pmfnas.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``pmfnas *argv``."""
    with pytest.raises(SystemExit) as exit_info:
        main([*argv])
        sys.exit(0)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err
