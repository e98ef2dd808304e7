"""Run the ``pmfnas`` command in-process, as the console script would, and capture its output;
or run it as a child process, to interrupt it once it has reached a given point."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def spawn(*argv: str) -> subprocess.Popen[str]:
    """``python -m pmfnas *argv`` as a child process whose output the caller collects.

    Ctrl-C is restored to its default in the child: a shell running the tests in the background
    would otherwise pass SIGINT on as ignored.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "pmfnas", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


SAFETY_TIMEOUT = 600.0
"""Seconds after which a waiting test gives up: a safety net only, never a condition."""


def wait_for(condition: Callable[[], bool], child: subprocess.Popen[str]) -> None:
    """Return once ``condition()`` holds; fail if the child exits first (or at the safety net)."""
    deadline = time.monotonic() + SAFETY_TIMEOUT
    while not condition():
        if child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"the command ended (code {child.returncode}) first:\n{out}\n{err}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the condition did not come true in time")
        time.sleep(0.02)


def stored_trials(path: Path) -> list[tuple[int, int, float]]:
    """(study id, number, start time) of every trial in a storage file (none while it is new)."""
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT study_id, number, started FROM trials ORDER BY 1, 2")
            return [tuple(row) for row in rows]
    except sqlite3.OperationalError:  # the schema is not written yet
        return []
