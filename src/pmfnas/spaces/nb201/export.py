"""Export an NB201 network (:mod:`pmfnas.spaces.export` has the formats and the metadata):
its :data:`NB201` kind, whose Python source unrolls the cell's forward over its live edges.
"""

from __future__ import annotations

from typing import Any

from pmfnas.spaces.export import NetworkKind
from pmfnas.spaces.nb201.cell import EDGES, OPS, check
from pmfnas.spaces.nb201.costs import check_input_size
from pmfnas.spaces.nb201.network import NB201Network
from pmfnas.spaces.nb201.space import NB201Space
from pmfnas.types import Arch

__all__ = ["DEFAULT_SIZES", "NB201"]

_EDGE_MODULES = {
    "none": "nn.Identity()",
    "skip_connect": "nn.Identity()",
    "nor_conv_1x1": "ReLUConvBN(channels, channels, 1)",
    "nor_conv_3x3": "ReLUConvBN(channels, channels, 3)",
    "avg_pool_3x3": "nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)",
}
"""Source of each edge's module in the generated file, as ``pmfnas.spaces.nb201.ops.make_op`` builds it.

``none`` and ``skip_connect`` hold no parameters; the generated forward leaves them out of the sums
and their ``nn.Identity`` only keeps the ModuleList indices (and so the state_dict keys) aligned.
"""


DEFAULT_SIZES = {"num_classes": 10, "channels": 16, "cells_per_stage": 5, "input_channels": 3}
"""The NB201 network exported when neither the arguments nor the weights file say otherwise
(the names of :data:`pmfnas.spaces.export.SIZE_NAMES`)."""


def _source_context(arch: Arch) -> dict[str, Any]:
    """What NB201's template adds: the cell's edges and its forward unrolled."""
    ops = [OPS[op] for op in check(arch)]
    edges = [
        {"src": src, "dst": dst, "op": op, "module": _EDGE_MODULES[op]}
        for (src, dst), op in zip(EDGES, ops, strict=True)
    ]
    return {"edges": edges, "forward": _forward_lines(ops)}


def _forward_lines(ops: list[str]) -> list[str]:
    """The cell's forward as straight-line code over the nodes that reach the output.

    A ``none`` edge adds zeros and a skip edge its input unchanged, so dropping the one and
    inlining the other keep every sum bit for bit (finite inputs) while skipping dead work.
    """
    live = {3}
    for target in (3, 2, 1):
        if target in live:
            live.update(
                src
                for (src, dst), op in zip(EDGES, ops, strict=True)
                if dst == target and op != "none"
            )
    lines = []
    for target in (1, 2, 3):
        if target not in live:
            continue
        terms = [
            f"node{src}" if op == "skip_connect" else f"self.edges[{index}](node{src})"
            for index, ((src, dst), op) in enumerate(zip(EDGES, ops, strict=True))
            if dst == target and op != "none"
        ]
        lines.append(f"node{target} = {' + '.join(terms) or 'torch.zeros_like(node0)'}")
    return [*lines, "return node3"]


NB201 = NetworkKind(
    space=NB201Space(),
    check=check,
    default_sizes=DEFAULT_SIZES,
    build=NB201Network,
    check_input_size=check_input_size,
    source_package=__package__,
    source_context=_source_context,
)
"""NB201's networks, for :func:`pmfnas.spaces.export.export_model`."""
