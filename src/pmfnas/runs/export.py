"""Export by space name: which :class:`~pmfnas.spaces.export.NetworkKind` a call exports.

The kinds live with their spaces; choosing among them belongs above both, here: the space a
caller names, else the one a weights file of ``pmfnas train --save`` records, else NB201.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from pmfnas.errors import ConfigError
from pmfnas.spaces.darts.export import DARTS
from pmfnas.spaces.export import ExportedModel, ExportFormat, NetworkKind
from pmfnas.spaces.export import export_model as export_kind
from pmfnas.spaces.export import prepare_model as prepare_kind
from pmfnas.spaces.nb201.export import NB201
from pmfnas.spaces.saved import load_network
from pmfnas.types import Arch

KINDS = {kind.name: kind for kind in (NB201, DARTS)}
"""The spaces whose networks pmfnas exports, by name."""


def network_kind(space: str | None = None, weights: Any = None) -> NetworkKind:
    """The kind of ``space``, else of the space the weights file records, else NB201's."""
    if space is None and isinstance(weights, str | Path) and Path(weights).is_file():
        record = load_network(weights)[1]
        space = record.space if record else None
    if space is not None and space not in KINDS:
        raise ConfigError(f"pmfnas exports {' and '.join(KINDS)} networks, not {space!r}")
    return KINDS[space or NB201.name]


def export_model(
    arch: str | Arch | None,
    fmt: str | ExportFormat,
    out: str | Path,
    *,
    space: str | None = None,
    weights: str | Path | Mapping[str, Any] | None = None,
    **options: Any,
) -> ExportedModel:
    """Write the network of ``arch`` in ``space`` (see :func:`network_kind`) to ``out`` in format
    ``fmt``; the options are :func:`pmfnas.spaces.export.export_model`'s."""
    kind = network_kind(space, weights)
    return export_kind(arch, fmt, out, kind=kind, weights=weights, **options)


def prepare_model(
    arch: str | Arch | None = None,
    *,
    space: str | None = None,
    weights: str | Path | Mapping[str, Any] | None = None,
    **options: Any,
) -> nn.Module:
    """The network :func:`export_model` writes, in eval mode (the options are
    :func:`pmfnas.spaces.export.prepare_model`'s)."""
    return prepare_kind(arch, kind=network_kind(space, weights), weights=weights, **options)
