"""DARTS networks: published sizes, the cost model against torch, and the supernet's contract."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces.darts.costs import (
    CANDIDATES,
    CellShape,
    check_input_size,
    check_network_size,
    largest_params,
    layout,
    params_and_flops,
    supernet_params,
)
from pmfnas.spaces.darts.genotype import CELLS, NODES, OPS, node_pair, parse
from pmfnas.spaces.darts.network import Cell, DartsNetwork
from pmfnas.spaces.darts.ops import Zero
from pmfnas.spaces.darts.published import PUBLISHED
from pmfnas.spaces.darts.supernet import DartsSupernet

PUBLISHED_PARAMS = {
    "DARTS_V1": 3_169_414,
    "DARTS_V2": 3_349_342,
    "PC_DARTS": 3_634_678,
    "P_DARTS": 3_433_798,
}
"""Parameters of the evaluation networks at C=36, 20 cells, 10 classes, no auxiliary head."""
DARTS_V2 = parse(PUBLISHED["DARTS_V2"])
SMALL = dict(channels=8, cells_per_stage=1)


def random_arch(rng: np.random.Generator) -> tuple[int, ...]:
    values: list[int] = []
    for _ in range(len(CELLS) * NODES):
        node = len(values) // 4 % NODES
        source_a, source_b = (int(s) for s in rng.choice(2 + node, size=2, replace=False))
        op_a, op_b = (int(op) for op in rng.integers(0, len(OPS), size=2))
        values.extend(node_pair(source_a, op_a, source_b, op_b))
    return tuple(values)


RANDOM_ARCHS = [random_arch(np.random.default_rng(seed)) for seed in range(4)]


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_and_linear_macs(model: nn.Module, input_size: int, input_channels: int = 3) -> int:
    """Multiply-accumulates of convolutions and linear layers in one image's inference pass."""
    total = 0

    def add(module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            fan_in = module.in_channels // module.groups
            total += out.shape[2] * out.shape[3] * module.out_channels * fan_in * kernel
        else:
            total += module.in_features * module.out_features

    hooks = [
        m.register_forward_hook(add)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, input_channels, input_size, input_size))
    for hook in hooks:
        hook.remove()
    return total


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_published_genotypes_have_their_published_sizes(name: str) -> None:
    arch = parse(PUBLISHED[name])
    assert count(DartsNetwork(arch)) == PUBLISHED_PARAMS[name]
    assert params_and_flops(arch)[0] == PUBLISHED_PARAMS[name]


def test_the_auxiliary_head_adds_its_published_share() -> None:
    net = DartsNetwork(DARTS_V2, auxiliary=True)
    assert count(net) == 3_825_768
    assert params_and_flops(DARTS_V2, auxiliary=True)[0] == 3_825_768
    without = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary."))
    assert without == PUBLISHED_PARAMS["DARTS_V2"]


def test_the_supernet_has_the_published_weight_count() -> None:
    """DARTS' search network, C=16, 8 cells, 10 classes: 1,930,618 weights (α not among them)."""
    assert count(DartsSupernet()) == supernet_params() == 1_930_618
    assert not list(DartsSupernet(**SMALL).buffers())


@pytest.mark.parametrize(
    "config",
    [
        {"channels": 8, "cells_per_stage": 1},
        {"channels": 5, "cells_per_stage": 1, "num_classes": 3, "input_size": 16},
        {"channels": 4, "cells_per_stage": 2, "input_channels": 1, "input_size": 8},
    ],
)
def test_costs_match_the_torch_network(config: dict) -> None:
    input_size, input_channels = config.get("input_size", 32), config.get("input_channels", 3)
    net_config = {k: v for k, v in config.items() if k != "input_size"}
    for arch in [DARTS_V2, *RANDOM_ARCHS]:
        params, flops = params_and_flops(arch, **config)
        net = DartsNetwork(arch, **net_config)
        assert count(net) == params
        assert conv_and_linear_macs(net, input_size, input_channels) == flops


def test_costs_count_the_auxiliary_parameters_but_not_its_inference_flops() -> None:
    arch = RANDOM_ARCHS[0]
    net = DartsNetwork(arch, auxiliary=True, **SMALL)
    params, flops = params_and_flops(arch, auxiliary=True, **SMALL)
    assert count(net) == params
    assert conv_and_linear_macs(net, 32) == flops == params_and_flops(arch, **SMALL)[1]


def test_supernet_params_match_torch_at_another_size() -> None:
    size = dict(channels=6, cells_per_stage=1, num_classes=3, input_channels=1)
    assert count(DartsSupernet(**size)) == supernet_params(**size)


def test_the_layout_reduces_at_a_third_and_two_thirds() -> None:
    shapes = layout(36, 6)
    assert len(shapes) == 20
    assert [i for i, s in enumerate(shapes) if s.reduction] == [6, 13]
    assert [i for i, s in enumerate(shapes) if s.reduction_prev] == [7, 14]
    assert (shapes[0].c_prev, shapes[-1].channels) == (108, 144)


def test_the_evaluation_network_runs_with_and_without_its_auxiliary_head() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    net = DartsNetwork(RANDOM_ARCHS[1], auxiliary=True, drop_path=0.2, **SMALL).train()
    logits = net(x)
    assert logits.shape == (2, 10)
    assert net.auxiliary_logits is not None and net.auxiliary_logits.shape == (2, 10)
    (logits.sum() + 0.4 * net.auxiliary_logits.sum()).backward()
    net.eval()
    assert net(x).shape == (2, 10) and net.auxiliary_logits is None
    plain = DartsNetwork(RANDOM_ARCHS[1], num_classes=7, **SMALL).train()
    assert plain(x).shape == (2, 7) and plain.auxiliary_logits is None


def test_drop_path_drops_whole_paths_of_operations_but_not_identities_and_only_in_training() -> (
    None
):
    shape = CellShape(c_prev_prev=16, c_prev=16, channels=4, reduction=False, reduction_prev=False)
    sep, skip = OPS.index("sep_conv_3x3"), OPS.index("skip_connect")
    x0, x1 = torch.randn(64, 16, 4, 4), torch.randn(64, 16, 4, 4)
    for op, drops in ((sep, True), (skip, False)):
        torch.manual_seed(0)
        cell = Cell((0, op, 1, op) * (NODES * len(CELLS)), shape).train()
        out = cell(x0, x1, 0.5).view(64, NODES, -1)
        zero_nodes = (out == 0).all(dim=2)
        assert bool(zero_nodes.any()) is drops
        cell.eval()
        assert not (cell(x0, x1, 0.5).view(64, NODES, -1) == 0).all(dim=2).any()


def test_drop_path_changes_training_passes_only() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    net = DartsNetwork(RANDOM_ARCHS[2], drop_path=0.0, **SMALL)
    net.eval()
    reference = net(x)
    net.drop_path = 0.5
    torch.testing.assert_close(net(x), reference)
    net.train()
    torch.manual_seed(1)
    dropped = net(x)
    net.drop_path = 0.0
    assert not torch.allclose(dropped, net(x))
    with pytest.raises(ConfigError, match=r"drop_path must lie in \[0, 1\)"):
        net.drop_path = 1.0


def small_supernet() -> DartsSupernet:
    torch.manual_seed(0)
    return DartsSupernet(**SMALL)


def random_path(seed: int) -> tuple[int, ...]:
    return tuple(int(c) for c in np.random.default_rng(seed).integers(0, len(CANDIDATES), 28))


def test_a_one_hot_mixture_computes_the_path_of_its_candidates() -> None:
    net, x = small_supernet(), torch.randn(2, 3, 32, 32)
    all_none = (0,) * 28  # every node's edges none: zeros, then only the classifier's bias
    for path in (random_path(0), random_path(1), all_none):
        one_hot = nn.functional.one_hot(torch.tensor(path), len(CANDIDATES)).float()
        by_path = net(x, path=path)
        assert by_path.shape == (2, 10)
        torch.testing.assert_close(net(x, weights=one_hot), by_path)
        torch.testing.assert_close(net(x, weights=one_hot, path=path), by_path)


def test_mixtures_run_every_candidate_and_paths_skip_none_edges() -> None:
    net, x = small_supernet(), torch.randn(2, 3, 32, 32)
    calls = 0

    def called(*_: object) -> None:
        nonlocal calls
        calls += 1

    for module in net.modules():
        if isinstance(module, Zero):
            module.register_forward_hook(called)
    weights = torch.softmax(torch.randn(28, len(CANDIDATES)), dim=1)
    assert net(x, weights=weights).shape == (2, 10)
    assert calls == 14 * len(net.cells)
    calls = 0
    # in each node the edge from node 1 runs a convolution, the others are none
    conv = CANDIDATES.index("sep_conv_3x3")
    path = tuple(
        conv if source == 1 else 0 for _ in CELLS for n in range(NODES) for source in range(2 + n)
    )
    out = net(x, weights=weights, path=path)
    assert out.shape == (2, 10) and calls == 0
    out.sum().backward()
    edge = net.cells[0].edges[0]  # node 2 from node 0: none, so nothing there trained
    assert all(p.grad is None for p in edge.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs edge weights, a path"),
        ({"weights": torch.zeros(14, 8)}, "must be 28 x 8"),
        ({"weights": torch.zeros(28, 7)}, "must be 28 x 8"),
        ({"path": (0,) * 14}, "names 28 operations"),
        ({"path": (8,) * 28}, "lie in 0..7"),
    ],
)
def test_bad_supernet_calls_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        small_supernet()(torch.randn(2, 3, 8, 8), **kwargs)


def test_sizes_that_cannot_be_built_are_refused() -> None:
    check_network_size(channels=36, cells_per_stage=6)
    check_network_size(channels=5, cells_per_stage=1)  # odd widths build: see the network test
    with pytest.raises(ConfigError, match=r"the widest is C=\d+") as refused:
        check_network_size(channels=20000, cells_per_stage=6)
    widest = int(str(refused.value).rsplit("C=", 1)[1])
    assert largest_params(widest, 6) <= 10**9 < largest_params(widest + 1, 6)
    with pytest.raises(ConfigError, match="at most 100"):
        check_network_size(channels=4, cells_per_stage=101)
    for size in ("channels", "cells_per_stage", "num_classes", "input_channels"):
        with pytest.raises(ConfigError, match=rf"{size} must be a positive integer"):
            check_network_size(**{"channels": 4, "cells_per_stage": 1, size: 0})
    with pytest.raises(ConfigError, match="cells_per_stage must be a positive integer"):
        DartsNetwork(DARTS_V2, cells_per_stage=0)
    with pytest.raises(ConfigError, match="channels must be a positive integer"):
        DartsSupernet(channels=0)


def test_input_sides_that_do_not_fit_are_refused() -> None:
    for side in (4, 8, 16, 64):
        check_input_size(side)
    for side in (32, 36, 40):
        check_input_size(side, auxiliary=True)
    for side in (0, 2, 6, 30):
        with pytest.raises(ConfigError, match="positive multiple of 4"):
            check_input_size(side)
    for side in (16, 28, 44, 64):
        with pytest.raises(ConfigError, match="auxiliary head"):
            check_input_size(side, auxiliary=True)
    with pytest.raises(ConfigError, match="auxiliary head"):
        params_and_flops(DARTS_V2, input_size=64, auxiliary=True)
    with pytest.raises(ArchitectureError):
        params_and_flops(DARTS_V2[:-1])
    with pytest.raises(ArchitectureError):
        DartsNetwork((0,) * 32)


def test_costs_do_not_import_torch() -> None:
    code = "import sys, pmfnas.spaces.darts.costs; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
