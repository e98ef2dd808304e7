"""The torch NB201 builder against the official records, and its FLOPs counter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces.counting import count_flops, count_parameters
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.network import NB201Network

ARCH_0 = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)


def test_builder_matches_official_records(nb201_official_costs) -> None:
    for cost in nb201_official_costs:
        model = NB201Network(cost.cell, num_classes=cost.num_classes)
        assert count_parameters(model) == round(cost.params * 1e6), cost
        assert count_flops(model, cost.input_size) == pytest.approx(cost.flop, rel=0.01), cost


@pytest.mark.parametrize(
    ("num_classes", "input_size", "params", "flop"),
    [(10, 32, 0.129306, 15.64737), (100, 32, 0.135156, 15.65322), (120, 16, 0.136456, 3.91948)],
)
def test_builder_matches_published_arch_0(num_classes, input_size, params, flop) -> None:
    model = NB201Network(NB201Space().parse(ARCH_0), num_classes=num_classes)
    assert count_parameters(model) == round(params * 1e6)
    assert count_flops(model, input_size) == pytest.approx(flop, rel=0.01)


@pytest.mark.parametrize(
    ("input_channels", "input_size", "num_classes"), [(3, 32, 10), (3, 16, 120), (1, 32, 7)]
)
def test_forward_shape(input_channels, input_size, num_classes) -> None:
    cell = NB201Space().sample(np.random.default_rng(input_size))
    model = NB201Network(cell, num_classes=num_classes, input_channels=input_channels)
    out = model(torch.randn(2, input_channels, input_size, input_size))
    assert out.shape == (2, num_classes)


def test_all_none_cell_runs_forward_and_backward() -> None:
    model = NB201Network((0,) * 6, channels=8, cells_per_stage=2)
    out = model(torch.randn(2, 3, 16, 16))
    out.sum().backward()
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_count_flops_keeps_training_mode_and_counts_biases() -> None:
    model = NB201Network((3,) * 6, channels=4, cells_per_stage=1, num_classes=5)
    model.train()
    with_bias = count_flops(model, 8)
    assert model.training
    model.classifier.bias = None
    assert with_bias - count_flops(model, 8) == pytest.approx(5 / 1e6)


def test_builder_rejects_bad_cells() -> None:
    with pytest.raises(ArchitectureError):
        NB201Network((0, 1, 2))
    with pytest.raises(ArchitectureError):
        NB201Network((0, 1, 2, 3, 4, 5))


def test_builder_refuses_sizes_it_cannot_build_before_allocating() -> None:
    with pytest.raises(ConfigError, match=r"widest is C="):
        NB201Network(NB201Space().arch(0), channels=20000)
    with pytest.raises(ConfigError, match=r"cells_per_stage must be a positive integer"):
        NB201Network(NB201Space().arch(0), cells_per_stage=0)


def test_buildable_needs_an_image_side_that_is_a_multiple_of_4() -> None:
    data = load_dataset("digits")  # 8 x 8 pixels
    NB201Space().check_buildable(data, 8, 1)
    with pytest.raises(ConfigError, match=r"input size 6 does not fit"):
        NB201Space().check_buildable(data.resized(6), 8, 1)
    with pytest.raises(ConfigError, match=r"channels must be a positive integer"):
        NB201Space().check_buildable(data, 0, 1)
