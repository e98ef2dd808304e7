"""Crash-safe, checksummed training checkpoints.

A checkpoint is written whole to a temporary file, then renamed into place, so a reader sees the
previous complete checkpoint or the new one, never half a file, whenever the process is killed.
Its first line holds the SHA-256 of the ``torch.save`` payload that follows: a file damaged later
(truncated, bytes changed on disk) does not match and is discarded with a warning, so the training
starts again instead of continuing from wrong weights or stopping the search.

A checkpoint also records torch's thread count: resumed under another count, a training is still
correct but no longer bit-identical to an uninterrupted one, which deserves a warning, not a refusal.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from pmfnas.errors import ConfigError, DataError

_MAGIC = b"pmfnas-checkpoint sha256="


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({**state, "threads": torch.get_num_threads()}, buffer)
    payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
        file.write(payload)
    os.replace(temporary, path)


def load_checkpoint(path: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is an intact one; it must have been written for
    ``config``. A damaged one is deleted with a warning and ``None`` returned."""
    if not path.is_file():
        return None
    try:
        state = _read(path)
    except ValueError as exc:
        warnings.warn(f"{path}: discarded a damaged checkpoint ({exc})", stacklevel=2)
        path.unlink(missing_ok=True)
        return None
    if not isinstance(state, dict) or state.get("config") != config:
        raise ConfigError(
            f"{path}: this checkpoint belongs to another training (other architecture, "
            "fidelity, recipe, data or seed); remove it or choose another checkpoint path"
        )
    if state.get("threads") != torch.get_num_threads():
        warnings.warn(
            f"{path}: saved under {state.get('threads')} torch threads, resumed under "
            f"{torch.get_num_threads()}; the result may differ bit-wise from an uninterrupted run",
            stacklevel=2,
        )
    return state


def _read(path: Path) -> Any:
    """The verified payload of a checkpoint file; ``ValueError`` says what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: unreadable checkpoint ({exc})") from None
    header, newline, payload = data.partition(b"\n")
    if not header.startswith(_MAGIC) or not newline:
        raise ValueError("no checksum header: truncated, or written by an older pmfnas")
    if hashlib.sha256(payload).hexdigest().encode() != header[len(_MAGIC) :]:
        raise ValueError("checksum mismatch: truncated or changed on disk")
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise ValueError(f"unreadable payload: {exc}") from None
