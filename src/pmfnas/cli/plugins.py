"""``pmfnas --plugin MODULE_OR_FILE.py``: a user's module imported before the command runs, so
that the search spaces and strategies it registers (``@SPACES.register``,
``@STRATEGIES.register``) are known to it: a stored study of a space of one's own can be
reported, or resumed, from the command line."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pmfnas.errors import ConfigError


def load_plugin(spec: str) -> ModuleType:
    """Import ``spec``: the path of a Python file, or the name of a module Python can import
    (installed, or on ``PYTHONPATH``). A file named twice is imported once."""
    if spec.endswith(".py"):
        return _load_file(Path(spec))
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is None or not f"{spec}.".startswith(f"{exc.name}."):
            raise  # the plug-in itself imports something missing: its traceback says what
        raise ConfigError(
            f"plug-in {spec!r}: no module named {exc.name!r} (give the name of an importable "
            "module or the path of a .py file)"
        ) from None


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"plug-in file {path} not found")
    path = path.resolve()
    # A private module name: a plug-in called random.py must not stand in for the standard one.
    name = f"pmfnas_plugin_{path.stem}"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(loaded.__file__ or "") == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
