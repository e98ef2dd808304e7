"""Crash-safe training checkpoints: written whole to a temporary file, then renamed into place.

A reader therefore sees either the previous complete checkpoint or the new one, never half a file,
whenever the process is killed.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from pmfnas.errors import ConfigError, DataError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one; it must have been written for ``config``."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: unreadable checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("config") != config:
        raise ConfigError(
            f"{path}: this checkpoint belongs to another training (other architecture, "
            "fidelity, recipe, data or seed); remove it or choose another checkpoint path"
        )
    return state
