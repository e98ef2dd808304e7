"""The NumPy cost model against the official records and against the torch builder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pmfnas.errors import ArchitectureError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201_costs import all_params_and_flops, params_and_flops
from pmfnas.spaces.networks import build_network, count_flops, count_parameters

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
        model = build_network(tuple(int(op) for op in cell), **net_config)
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
    code = "import sys, pmfnas.spaces.nb201_costs; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
