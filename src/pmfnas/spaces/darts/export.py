"""Export a DARTS evaluation network as Python source, TorchScript or ONNX.

The network inference runs: in eval mode, without the auxiliary head (a training's ``auxiliary.``
weights are left out) and without drop-path. The formats, the checks of weights against the
network and the metadata are those of :mod:`pmfnas.spaces.export`; this module gives
them DARTS' networks (:data:`DARTS`).
"""

from __future__ import annotations

from typing import Any

import torch

from pmfnas.spaces.darts.costs import check_input_size
from pmfnas.spaces.darts.genotype import CELLS, NODES, OPS, check, node_slice
from pmfnas.spaces.darts.network import DartsNetwork
from pmfnas.spaces.darts.space import DartsSpace
from pmfnas.spaces.export import NetworkKind
from pmfnas.types import Arch

__all__ = ["DARTS", "DEFAULT_SIZES"]

DEFAULT_SIZES = {"num_classes": 10, "channels": 36, "cells_per_stage": 6, "input_channels": 3}
"""DARTS' published evaluation network (20 cells at C=36, CIFAR-10), exported when neither the
arguments nor the weights file say otherwise."""

AUXILIARY = "auxiliary."
"""The prefix of the auxiliary head's weights in a training's state_dict."""


def _inference_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value for key, value in state.items() if not key.startswith(AUXILIARY)}


def _source_context(arch: Arch) -> dict[str, Any]:
    """What DARTS' template adds: its two cells as data, the two edges of each node (the
    template loops over the nodes)."""
    cells = {}
    for kind, name in enumerate(CELLS):
        nodes = []
        for node in range(NODES):
            source_a, op_a, source_b, op_b = arch[node_slice(kind, node)]
            edges = f'("{OPS[op_a]}", {source_a}), ("{OPS[op_b]}", {source_b})'
            nodes.append({"index": node + 2, "edges": edges})
        cells[name] = nodes
    return {"cells": cells}


DARTS = NetworkKind(
    space=DartsSpace(),
    check=check,
    default_sizes=DEFAULT_SIZES,
    build=DartsNetwork,
    check_input_size=check_input_size,
    source_package=__package__,
    source_context=_source_context,
    inference_state=_inference_state,
)
"""DARTS' evaluation networks, for :func:`pmfnas.spaces.export.export_model`."""
