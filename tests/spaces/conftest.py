"""A Python without pmfnas, to run exported models where only their own dependencies exist."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RunScript = Callable[[str, Path], None]

GUARD = """
import sys
try:
    import pmfnas
except ModuleNotFoundError:
    pass
else:
    sys.exit(f"pmfnas is importable from {pmfnas.__file__}")
"""

CHECK = """
assert not [m for m in sys.modules if m.split(".")[0] == "pmfnas"], "pmfnas was imported"
"""


def _clean_site(root: Path) -> Path:
    """A folder of links to every installed package except pmfnas and any ``.pth`` path hook."""
    site = root / "site"
    site.mkdir()
    folders = {
        Path(spec.origin).parents[1]
        for spec in map(importlib.util.find_spec, ("torch", "numpy", "onnxruntime"))
        if spec is not None
    }
    for folder in folders:
        for entry in folder.iterdir():
            skip = entry.name.startswith(("pmfnas", "__editable__")) or entry.suffix == ".pth"
            if not skip and not (site / entry.name).exists():
                (site / entry.name).symlink_to(entry)
    return site


@pytest.fixture(scope="session")
def run_without_pmfnas(tmp_path_factory: pytest.TempPathFactory) -> RunScript:
    """``run(script, cwd)``: run ``script`` in a fresh Python whose import path holds the
    installed packages except pmfnas; fail the test with its stderr if it fails, or if pmfnas
    could be imported there, or was."""
    site = _clean_site(tmp_path_factory.mktemp("clean"))
    # no PYTHON* setting that could put pmfnas back on the path
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}

    def run(script: str, cwd: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-S", "-s", "-c", GUARD + script + CHECK],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr

    return run
