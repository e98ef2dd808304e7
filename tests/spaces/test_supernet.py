"""The NB201 one-shot supernet: the published weight count and the three ways to run an edge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pmfnas.errors import ConfigError
from pmfnas.spaces import create_space
from pmfnas.spaces.base import SearchSpace
from pmfnas.spaces.nb201.cell import OPS
from pmfnas.spaces.oneshot import OneShotSpace, require_oneshot

SPACE = create_space("nb201")
SMALL = dict(channels=4, cells_per_stage=1, num_classes=3, input_channels=1)
CELL = (3, 1, 2, 0, 4, 3)


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return SPACE.supernet(**SMALL).eval()


def batch() -> torch.Tensor:
    return torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_weight_count_equals_the_published_one() -> None:
    """XAutoDL's NB201 search network, C=16, N=5, 10 classes: 1,692,826 weights."""
    net = SPACE.supernet(channels=16, cells_per_stage=5, num_classes=10, input_channels=3)
    assert sum(p.numel() for p in net.parameters()) == 1_692_826


def test_a_one_hot_mixture_computes_the_path_of_its_ops() -> None:
    net, x = small_net(), batch()
    one_hot = torch.nn.functional.one_hot(torch.tensor(CELL), len(OPS)).float()
    torch.testing.assert_close(net(x, weights=one_hot), net(x, path=CELL))


def test_a_path_trains_only_its_operations() -> None:
    net = small_net()
    net(batch(), path=CELL).sum().backward()
    cell = net.cells[0]
    for edge, op in zip(cell.edges, CELL, strict=True):
        for index, candidate in enumerate(edge.ops):
            grads = [p.grad for p in candidate.parameters()]
            if index == op:
                assert all(g is not None for g in grads)
            else:
                assert all(g is None for g in grads)


def test_a_hard_sample_carries_the_gradient_of_its_logits() -> None:
    """Straight-through: the value of the path, the gradient of the soft weights."""
    net, x = small_net(), batch()
    logits = torch.zeros(6, len(OPS), requires_grad=True)
    soft = logits.softmax(dim=1)
    hard = torch.nn.functional.one_hot(torch.tensor(CELL), len(OPS)).float()
    straight = hard - soft.detach() + soft
    out = net(x, weights=straight, path=CELL)
    torch.testing.assert_close(out, net(x, path=CELL))
    out.sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs edge weights, a path"),
        ({"weights": torch.zeros(5, 5)}, "must be 6 x 5"),
        ({"path": (0, 1)}, "names 6 operations"),
        ({"path": (0, 1, 2, 3, 4, 5)}, r"candidates lie in 0\.\.4, got \(0, 1, 2, 3, 4, 5\)"),
    ],
)
def test_bad_calls_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        small_net()(batch(), **kwargs)


def test_the_derived_cell_is_the_strongest_op_per_edge() -> None:
    alpha = np.zeros((6, 5))
    alpha[np.arange(6), CELL] = 1.0
    assert SPACE.derive(alpha) == CELL
    assert SPACE.path(CELL) == CELL
    with pytest.raises(ConfigError, match="6 x 5"):
        SPACE.derive(np.zeros((5, 5)))


def test_nb201_offers_one_shot_search_and_other_spaces_are_refused() -> None:
    assert isinstance(SPACE, OneShotSpace)
    assert require_oneshot(SPACE, "darts") is SPACE
    assert {"none", "skip_connect", "avg_pool_3x3"} == SPACE.parameter_free

    class Plain:
        name = "plain"

    with pytest.raises(ConfigError, match="darts needs a search space with a supernet"):
        require_oneshot(Plain(), "darts")  # type: ignore[arg-type]
    assert not isinstance(Plain(), SearchSpace)


def test_batch_norm_uses_the_batch_statistics_in_evaluation_too() -> None:
    """A path's accuracy is measured with its own statistics, not a mixture's running ones."""
    net, x = small_net(), batch()
    net.train()
    trained_mode = net(x, path=CELL)
    net.eval()
    torch.testing.assert_close(net(x, path=CELL), trained_mode)
    assert not list(net.buffers())


def test_the_parameter_free_share_counts_skip_none_and_pooling_edges() -> None:
    from pmfnas.spaces.oneshot import parameter_free_share

    assert parameter_free_share(SPACE, (1, 1, 1, 1, 1, 1)) == 1.0  # all skip_connect
    assert parameter_free_share(SPACE, (3, 3, 3, 2, 2, 2)) == 0.0  # all convolutions
    assert parameter_free_share(SPACE, CELL) == 0.5  # skip, none, avg_pool; three convolutions
