"""The NAS-Bench-201 one-shot supernet: every edge holds all five operations, sharing weights.

Layout of XAutoDL's NB201 search network (the stem, reductions and head of
:class:`~pmfnas.spaces.nb201.network.MacroNetwork`; in the search cells batch norm without affine
parameters), so that at C=16, N=5 and 10 classes it has the published 1,692,826 weights. Every
batch norm normalises by the batch's own statistics (:mod:`pmfnas.spaces.supernet` says why).

One forward pass serves every one-shot method, on one set of weights:

* ``weights`` alone (edges x ops): the weighted sum of all operations on each edge (DARTS'
  softmax mixture, DrNAS' Dirichlet sample);
* ``path`` alone (one op per edge): only that operation runs (RSPS, a swarm particle's cell);
* both: only ``path``'s operation runs, scaled by its weight, so a straight-through hard sample
  (GDAS) carries the gradient of the weights while computing one operation per edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pmfnas.spaces.nb201.cell import NUM_EDGES, OPS
from pmfnas.spaces.nb201.network import MacroNetwork
from pmfnas.spaces.nb201.ops import make_op, run_cell
from pmfnas.spaces.supernet import check_forward, use_batch_statistics


class MixedEdge(nn.Module):
    """The five operations of one edge, applied to the same input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(op, channels, affine=False) for op in OPS)

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, choice: int | None
    ) -> torch.Tensor:
        if choice is None:
            assert weights is not None
            return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))
        out = self.ops[choice](x)
        return out if weights is None else weights[choice] * out


class SearchCell(nn.Module):
    """An NB201 cell whose every edge is a :class:`MixedEdge`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(channels) for _ in range(NUM_EDGES))

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None, path: Sequence[int] | None
    ) -> torch.Tensor:
        return run_cell(
            x,
            lambda e, node: self.edges[e](
                node, None if weights is None else weights[e], None if path is None else path[e]
            ),
        )


class NB201Supernet(MacroNetwork):
    """The weight-sharing network over all 15,625 cells (see the module docstring)."""

    def __init__(
        self,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        input_channels: int = 3,
    ) -> None:
        super().__init__(
            SearchCell,
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_classes=num_classes,
            input_channels=input_channels,
        )
        use_batch_statistics(self)

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | None = None,
        path: Sequence[int] | None = None,
    ) -> torch.Tensor:
        check_forward(weights, path, NUM_EDGES, len(OPS))
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, weights, path) if isinstance(layer, SearchCell) else layer(x)
        return self.classifier(self.head(x))
