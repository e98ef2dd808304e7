"""The NumPy cost model against the official records and against the torch builder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces.counting import count_flops, count_parameters
from pmfnas.spaces.limits import MAX_CELLS_PER_STAGE, MAX_PARAMS
from pmfnas.spaces.nb201 import OPS, NB201Space
from pmfnas.spaces.nb201.costs import (
    all_params_and_flops,
    check_input_size,
    check_network_size,
    largest_params,
    params_and_flops,
)
from pmfnas.spaces.nb201.network import NB201Network

RANDOM_CELLS = np.random.default_rng(0).integers(0, 5, size=(24, 6))


def test_matches_official_records(nb201_official_costs) -> None:
    for cost in nb201_official_costs:
        params, flops = params_and_flops(
            np.array([cost.cell]), num_classes=cost.num_classes, input_size=cost.input_size
        )
        assert round(params[0] * 1e6) == round(cost.params * 1e6), cost
        assert flops[0] == pytest.approx(cost.flop, rel=0.01), cost
        assert flops[0] == pytest.approx(cost.flop, abs=1e-5), cost  # exact to printed digits


def test_all_cells_follow_nats_order(nb201_official_costs) -> None:
    for cost in nb201_official_costs:
        params, flops = all_params_and_flops(cost.num_classes, cost.input_size)
        assert params[cost.index] == pytest.approx(cost.params, abs=1e-9)
        assert flops[cost.index] == pytest.approx(cost.flop, abs=1e-5)


def test_all_cells_cached_and_read_only() -> None:
    params, flops = all_params_and_flops(10, 32)
    assert params.shape == flops.shape == (15_625,)
    assert all_params_and_flops(10, 32)[0] is params
    with pytest.raises(ValueError):
        params[0] = 0.0
    space = NB201Space()
    cells = np.array([space.arch(i) for i in (0, 1, 777, 15_624)])
    expected_params, expected_flops = params_and_flops(cells)
    np.testing.assert_array_equal(params[[0, 1, 777, 15_624]], expected_params)
    np.testing.assert_array_equal(flops[[0, 1, 777, 15_624]], expected_flops)


@pytest.mark.parametrize(
    ("config", "num_cells"),  # full-size networks are the slow ones: fewer of them
    [
        ({}, 8),
        ({"num_classes": 120, "input_size": 16}, 8),
        ({"channels": 8, "cells_per_stage": 1, "input_size": 8, "num_classes": 3}, 24),
        ({"channels": 4, "cells_per_stage": 2, "input_size": 12, "input_channels": 1}, 24),
    ],
)
def test_matches_torch_builder(config, num_cells) -> None:
    input_size = config.get("input_size", 32)
    input_channels = config.get("input_channels", 3)
    net_config = {k: v for k, v in config.items() if k != "input_size"}
    cells = RANDOM_CELLS[:num_cells]
    params, flops = params_and_flops(cells, **config)
    for cell, p, f in zip(cells, params, flops, strict=True):
        model = NB201Network(tuple(int(op) for op in cell), **net_config)
        assert count_parameters(model) == round(p * 1e6)
        assert count_flops(model, input_size, input_channels) == pytest.approx(f, rel=1e-12)


def test_rejects_bad_input() -> None:
    with pytest.raises(ArchitectureError):
        params_and_flops(np.zeros((2, 5), dtype=int))
    with pytest.raises(ArchitectureError):
        params_and_flops(np.array([[0, 1, 2, 3, 4, 5]]))
    with pytest.raises(ArchitectureError):
        params_and_flops(np.zeros((1, 6)))  # floats are not op ids
    with pytest.raises(ValueError):
        params_and_flops(RANDOM_CELLS, input_size=30)


def test_does_not_import_torch() -> None:
    code = "import sys, pmfnas.spaces.nb201.costs; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("channels", "cells", "classes", "inputs"), [(16, 5, 10, 3), (4, 1, 120, 1)]
)
def test_largest_params_is_the_all_conv_cell(channels, cells, classes, inputs) -> None:
    all_conv = np.array([[OPS.index("nor_conv_3x3")] * 6])
    params, _ = params_and_flops(
        all_conv, channels=channels, cells_per_stage=cells, num_classes=classes,
        input_channels=inputs,
    )  # fmt: skip
    assert largest_params(channels, cells, classes, inputs) == round(params[0] * 1e6)


def test_sizes_that_cannot_be_built_are_refused_with_the_widest_that_can() -> None:
    check_network_size(channels=16, cells_per_stage=5)
    with pytest.raises(ConfigError, match=r"widest is C=409") as refused:
        check_network_size(channels=20000, cells_per_stage=5)
    assert "1,000 M" in str(refused.value)
    assert largest_params(409, 5) <= MAX_PARAMS < largest_params(410, 5)
    with pytest.raises(ConfigError, match=r"at most 100"):
        check_network_size(channels=1, cells_per_stage=MAX_CELLS_PER_STAGE + 1)
    for size in ("channels", "cells_per_stage", "num_classes", "input_channels"):
        with pytest.raises(ConfigError, match=rf"{size} must be a positive integer"):
            check_network_size(**{"channels": 4, "cells_per_stage": 1, size: 0})
    for side in (0, 2, 6, 30):
        with pytest.raises(ConfigError, match=r"positive multiple of 4"):
            check_input_size(side)
