"""The training setting a real-training search plans for its budget."""

import pytest
import torch

from pmfnas.data import ImageDataset
from pmfnas.evaluators import setting
from pmfnas.evaluators.setting import (
    EVAL_IMAGES,
    MIN_IMAGES,
    TRAININGS,
    medium_flops,
    plan_recipe,
)
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.training import TrainingRecipe

SPACE = NB201Space()


@pytest.fixture(scope="module")
def large():
    """A Fashion-MNIST-sized dataset (random pixels: only its sizes matter here)."""
    g = torch.Generator().manual_seed(0)

    def part(n):
        return torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8), (
            torch.arange(n) % 10
        )

    (tx, ty), (vx, vy), (sx, sy) = part(48_000), part(12_000), part(10_000)
    return ImageDataset("big", tx, ty, sx, sy, 10, (0.5,), (0.25,), valid_x=vx, valid_y=vy)


def _images(recipe, data):
    return round(recipe.fraction * len(data.train_y))


def test_a_large_budget_trains_nb201s_network_on_every_image(large):
    recipe = plan_recipe(SPACE, large, 1e18, "flops")
    assert (recipe.channels, recipe.cells_per_stage, recipe.batch_size) == (16, 5, 256)
    assert recipe.fraction == 1 and recipe.resolution == 0
    assert recipe.valid_images == recipe.test_images == EVAL_IMAGES


def test_a_small_budget_reduces_the_setting_until_a_medium_training_fits(large):
    budget = 5e12
    recipe = plan_recipe(SPACE, large, budget, "flops")
    assert (recipe.channels, recipe.cells_per_stage) == (8, 1)
    assert medium_flops(SPACE, large, recipe, _images(recipe, large)) <= budget / TRAININGS
    bigger = TrainingRecipe(**{**recipe.as_dict(), "resolution": 0})  # native 28 px
    assert recipe.resolution == 16 or medium_flops(SPACE, large, bigger, 5000) > budget / TRAININGS


def test_a_tiny_budget_still_trains_on_enough_images(large):
    recipe = plan_recipe(SPACE, large, 1e6, "flops")
    assert recipe.resolution == 8 and _images(recipe, large) == MIN_IMAGES


def test_knobs_the_user_sets_are_kept(large):
    base = TrainingRecipe(channels=12, fraction=0.5)
    recipe = plan_recipe(SPACE, large, 5e12, "flops", base, frozenset({"channels", "fraction"}))
    assert recipe.channels == 12 and recipe.fraction == 0.5


def test_a_wall_budget_times_only_the_settings_that_could_fit(large, monkeypatch):
    timed = []

    def fake_seconds_per_flop(space, data, recipe, device):
        timed.append((recipe.channels, recipe.resolution))
        return 1e-10  # a machine of 10 GFLOP/s, whatever the network

    monkeypatch.setattr(setting, "seconds_per_flop", fake_seconds_per_flop)
    recipe = plan_recipe(SPACE, large, 120.0, "wall")
    assert timed[0] == (8, 8)  # the cheapest first
    assert (16, 0) not in timed  # NB201's network cannot fit two minutes even 4x faster
    assert medium_flops(SPACE, large, recipe, _images(recipe, large)) * 1e-10 <= 120.0 / TRAININGS
