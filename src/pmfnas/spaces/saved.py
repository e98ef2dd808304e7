"""A trained network's weights file, with what rebuilding it and feeding it raw pixels needs.

``pmfnas train --save`` writes one and ``pmfnas export --weights`` reads it, so an export needs
no size flags and can take the dataset's raw pixels: beside the state_dict the file records the
space, the architecture, the network's sizes, the dataset and how training turned its stored
pixels into the network's input. A plain state_dict (``torch.save(model.state_dict(), path)``,
what earlier versions saved) still reads, without that record.

Both are ``torch.save`` files of tensors, strings and numbers only, read with
``weights_only=True``: a foreign file cannot run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from pmfnas.data import ImageDataset
from pmfnas.errors import DataError

FORMAT = "pmfnas-network"
"""The ``format`` entry that tells a saved network from a plain state_dict."""

VERSION = 1


@dataclass(frozen=True)
class Preprocessing:
    """How training turned a dataset's stored images (pixels 0..255) into the network's input.

    Images of ``stored_size`` (height, width) are resized to ``size`` when the two differ (the
    resolution fidelity, :meth:`ImageDataset.resized`: antialiased bilinear, rounded back to
    whole pixel values), then scaled to 0..1 and normalised per channel, ``(x / 255 - mean) /
    std`` (:meth:`ImageDataset.normalize`).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    stored_size: tuple[int, int]
    size: tuple[int, int]

    @classmethod
    def of(cls, data: ImageDataset, trained: ImageDataset) -> Preprocessing:
        """The preprocessing of ``data``'s images for a network trained on ``trained``, the
        same images at the training's resolution."""
        return cls(tuple(data.mean), tuple(data.std), data.image_size, trained.image_size)

    @property
    def resizes(self) -> bool:
        return self.stored_size != self.size


@dataclass(frozen=True)
class NetworkRecord:
    """What a saved network is: its space and architecture, its sizes (the arguments of
    ``SearchSpace.network``), the dataset it was trained on and that dataset's preprocessing."""

    space: str
    arch: str
    channels: int
    cells_per_stage: int
    num_classes: int
    input_channels: int
    data: str
    classes: tuple[str, ...]
    preprocessing: Preprocessing

    def sizes(self) -> dict[str, int]:
        """The keyword arguments that build the network: channels, cells, classes, input channels."""
        names = ("channels", "cells_per_stage", "num_classes", "input_channels")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> NetworkRecord:
        """The record of :func:`save_network`'s ``network`` entry; a ``KeyError`` or
        ``TypeError`` when it is not one."""
        names = {f.name for f in fields(cls)}
        if set(entry) != names:
            raise KeyError(sorted(set(entry) ^ names))
        pre = entry["preprocessing"]
        preprocessing = Preprocessing(
            mean=tuple(map(float, pre["mean"])),
            std=tuple(map(float, pre["std"])),
            stored_size=_side_pair(pre["stored_size"]),
            size=_side_pair(pre["size"]),
        )
        return cls(**{**entry, "classes": tuple(entry["classes"]), "preprocessing": preprocessing})


def _side_pair(sides: Any) -> tuple[int, int]:
    height, width = sides
    return int(height), int(width)


def save_network(
    path: str | Path, state: Mapping[str, torch.Tensor], record: NetworkRecord
) -> None:
    """Write ``state`` (a state_dict) with ``record`` to ``path``."""
    entry = {"format": FORMAT, "version": VERSION, "network": asdict(record)}
    torch.save({**entry, "state_dict": dict(state)}, path)


def load_network(path: str | Path) -> tuple[dict[str, torch.Tensor], NetworkRecord | None]:
    """The state_dict of a weights file and its record (``None``: a plain state_dict)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"weights file {path} not found")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign, truncated or unsafe files
        if "Unsupported global" in str(exc):
            raise DataError(
                f"weights file {path} holds objects besides tensors; save model.state_dict()"
            ) from exc
        raise DataError(f"cannot read weights file {path}: not a whole torch.save file") from exc
    record = None
    if isinstance(content, Mapping) and content.get("format") == FORMAT:
        if content.get("version") != VERSION:
            raise DataError(
                f"weights file {path} is saved network version {content.get('version')}; "
                f"this pmfnas reads version {VERSION}"
            )
        try:
            record = NetworkRecord.from_dict(content["network"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"weights file {path}: damaged network record ({exc})") from None
        content = content.get("state_dict")
    if not isinstance(content, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in content.items()
    ):
        raise DataError(f"weights file {path} is not a state_dict (a mapping of names to tensors)")
    return dict(content), record
