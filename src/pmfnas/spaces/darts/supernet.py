"""The DARTS one-shot supernet (DARTS' search ``Network``): every edge holds all candidates.

The layout of :func:`pmfnas.spaces.darts.costs.layout` with every one of a cell's 14 edges (numbered
by :func:`~pmfnas.spaces.darts.genotype.edge_index`) a mixture of the 8
:data:`~pmfnas.spaces.darts.costs.CANDIDATES`; the cells' batch norms have no affine parameters,
and a pooling candidate is followed by one, as in DARTS. At C=16, 8 cells and 10 classes it has
the published 1,930,618 weights. Every batch norm normalises by the batch's own statistics
(:mod:`pmfnas.spaces.supernet`).

It follows the forward contract of :class:`~pmfnas.spaces.nb201.supernet.NB201Supernet`, with 28
choice points: rows 0..13 the normal cell's edges, 14..27 the reduction cell's.

* ``weights`` alone (28 x 8): the weighted sum of all candidates on each edge;
* ``path`` alone (28 candidate indices): only that candidate runs; a ``none`` edge is skipped;
* both: only ``path``'s candidate runs, scaled by its weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pmfnas.spaces.darts.costs import (
    CANDIDATES,
    MULTIPLIER,
    CellShape,
    check_network_size,
    layout,
)
from pmfnas.spaces.darts.genotype import CELLS, EDGES_PER_CELL, NODES, edge_index
from pmfnas.spaces.darts.ops import make_op, make_preprocess
from pmfnas.spaces.supernet import check_forward, use_batch_statistics

CHOICE_POINTS = len(CELLS) * EDGES_PER_CELL
"""28: the edges of the normal cell, then those of the reduction cell."""
NONE = CANDIDATES.index("none")


class MixedEdge(nn.Module):
    """The candidates of one edge, applied to the same input."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        ops = []
        for name in CANDIDATES:
            op = make_op(name, channels, stride, affine=False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: int | None
    ) -> torch.Tensor | None:
        """The edge's output; None for a ``none`` choice, which contributes nothing."""
        if choice is None:
            assert weights is not None
            return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))
        if choice == NONE:
            return None
        out = self.ops[choice](x)
        return out if weights is None else weights[choice] * out


class SearchCell(nn.Module):
    """A DARTS cell whose every edge (each earlier node into each intermediate node) is mixed."""

    def __init__(self, shape: CellShape) -> None:
        super().__init__()
        self.kind = shape.kind
        self.preprocess0, self.preprocess1 = make_preprocess(
            shape.c_prev_prev,
            shape.c_prev,
            shape.channels,
            reduction_prev=shape.reduction_prev,
            affine=False,
        )
        self.edges = nn.ModuleList(
            MixedEdge(shape.channels, 2 if shape.reduction and source < 2 else 1)
            for node in range(NODES)
            for source in range(2 + node)
        )

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        weights: torch.Tensor | None,
        path: Sequence[int] | None,
    ) -> torch.Tensor:
        """``weights`` and ``path``: this cell kind's 14 rows or entries."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(NODES):
            outs = []
            for source, state in enumerate(states):
                e = edge_index(node, source)
                out = self.edges[e](
                    state,
                    None if weights is None else weights[e],
                    None if path is None else path[e],
                )
                if out is not None:
                    outs.append(out)
            if not outs:  # every edge into the node is none: zeros of the node's shape
                outs.append(self.edges[edge_index(node, 0)].ops[NONE](states[0]))
            states.append(sum(outs[1:], outs[0]))
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The weight-sharing network over all DARTS genotypes (see the module docstring)."""

    def __init__(
        self,
        *,
        channels: int = 16,
        cells_per_stage: int = 2,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> None:
        super().__init__()
        check_network_size(
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )
        shapes = layout(channels, cells_per_stage)
        stem = shapes[0].c_prev
        self.stem = nn.Sequential(
            nn.Conv2d(input_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem)
        )
        self.cells = nn.ModuleList(SearchCell(shape) for shape in shapes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(MULTIPLIER * shapes[-1].channels, num_classes)
        use_batch_statistics(self)

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | None = None,
        path: Sequence[int] | None = None,
    ) -> torch.Tensor:
        check_forward(weights, path, CHOICE_POINTS, len(CANDIDATES))
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            rows = slice(cell.kind * EDGES_PER_CELL, (cell.kind + 1) * EDGES_PER_CELL)
            s0, s1 = (
                s1,
                cell(
                    s0,
                    s1,
                    None if weights is None else weights[rows],
                    None if path is None else path[rows],
                ),
            )
        return self.classifier(self.pool(s1).flatten(1))
