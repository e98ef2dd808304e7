"""Checks that an output path can be written, made before the work whose result it will hold.

A summary, weights or a report that cannot be written once a long search or training is over
is lost work; the same mistake caught first costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from pmfnas.errors import ConfigError


def writable_file(path: Path, what: str = "output file") -> Path:
    """``path`` itself, or a :class:`ConfigError` unless a file can be written there now.

    Its folder must exist (a typo there is more likely than a wish for a new folder).
    """
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder, not a file")
    if not folder.is_dir():
        raise ConfigError(f"{what} {path}: folder {folder} does not exist")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise ConfigError(f"{what} {path}: {target} is not writable")
    return path


def writable_folder(path: Path, what: str = "output folder") -> Path:
    """``path`` itself, or a :class:`ConfigError` unless it is, or can be made, a writable folder."""
    # ``path`` or its closest existing ancestor (a relative path's last parent is ".")
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    if not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: {existing} is not writable")
    return path
