"""The one-shot driver and methods: determinism, exact resume, the methods' own rules."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.data.digits import read_digits
from pmfnas.data.splits import apply_split
from pmfnas.errors import ConfigError
from pmfnas.oneshot import ONESHOT, OneShotRecipe, darts, search_oneshot
from pmfnas.oneshot.gdas import hard_sample
from pmfnas.oneshot.trainer import SupernetTrainer
from pmfnas.spaces import create_space
from pmfnas.training.loop import Device

SPACE = create_space("nb201")
RECIPE = OneShotRecipe(channels=4, cells_per_stage=1, batch_size=64, eval_images=128)
METHODS = ONESHOT.names()


@pytest.fixture(scope="module")
def data():
    return apply_split(read_digits(), "holdout:0.5")


def run(name: str, data, epochs: int = 2, **kwargs):
    return search_oneshot(ONESHOT.get(name)(), SPACE, data, RECIPE, epochs=epochs, **kwargs)


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_cells_and_other_seed_other_training(name: str, data) -> None:
    first, again, other = run(name, data), run(name, data), run(name, data, seed=1)
    assert [h.arch for h in first.history] == [h.arch for h in again.history]
    assert [h.metrics for h in first.history] == [h.metrics for h in again.history]
    assert [h.metrics for h in first.history] != [h.metrics for h in other.history]
    assert len(first.history) == 2 and first.stop_reason == "epochs done"
    for row in first.history:
        assert SPACE.format(row.arch)
        assert 0 <= row.metrics["val_acc"] <= 100
        assert 0 <= row.info["parameter_free"] <= 1


@pytest.mark.parametrize("name", METHODS)
def test_a_resumed_search_equals_the_uninterrupted_one(name: str, data, tmp_path: Path) -> None:
    whole = run(name, data, epochs=3)
    checkpoint = tmp_path / "search.ckpt"
    recorded: list = []

    class Killed(Exception):
        pass

    def kill_after_first(row) -> None:
        recorded.append(row)
        if row.epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        run(name, data, epochs=3, checkpoint=checkpoint, record=kill_after_first)
    resumed = run(name, data, epochs=3, checkpoint=checkpoint, record=recorded.append)
    assert [r.epoch for r in recorded] == [1, 2, 3]
    assert resumed.arch == whole.arch
    assert [h.metrics for h in resumed.history] == [h.metrics for h in whole.history]


@pytest.mark.parametrize(
    ("name", "learns_alpha"), [("darts", True), ("gdas", True), ("rsps", False)]
)
def test_each_step_trains_w_and_the_gradient_methods_alpha(
    name: str, learns_alpha: bool, data
) -> None:
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=1, seed=0, run=Device.of("cpu"))
    alpha = trainer.alpha.detach().clone()
    weights = [p.detach().clone() for p in trainer.net.parameters()]
    method = ONESHOT.get(name)()
    for train, valid in itertools.islice(trainer.batches(0), 3):
        method.step(trainer, train, valid, 0.0)
    assert (not torch.equal(alpha, trainer.alpha.detach())) is learns_alpha
    assert any(
        not torch.equal(a, b) for a, b in zip(weights, trainer.net.parameters(), strict=True)
    )


def test_the_hard_sample_is_one_hot_with_a_gradient() -> None:
    torch.manual_seed(0)
    alpha = torch.randn(6, 5, requires_grad=True)
    weights, path = hard_sample(alpha, tau=1.0)
    assert torch.equal(weights.detach(), torch.nn.functional.one_hot(torch.tensor(path), 5).float())
    (weights * torch.arange(5.0)).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_a_low_temperature_samples_the_strongest_operations() -> None:
    torch.manual_seed(0)
    alpha = torch.zeros(6, 5)
    alpha[:, 3] = 20.0
    assert all(hard_sample(alpha, tau=0.1)[1] == [3] * 6 for _ in range(20))


def test_rsps_returns_the_best_of_its_candidates(data) -> None:
    method = ONESHOT.get("rsps")(candidates=5)
    result = search_oneshot(method, SPACE, data, RECIPE, epochs=1)
    rng = np.random.default_rng(0)
    candidates = [SPACE.sample(rng) for _ in range(5)]
    assert result.arch in candidates


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "at least one epoch"),
        ({"recipe": OneShotRecipe(batch_size=4096, channels=4, cells_per_stage=1)}, "one batch"),
    ],
)
def test_bad_settings_are_config_errors(data, kwargs: dict, message: str) -> None:
    settings = {"recipe": RECIPE, "epochs": 1} | kwargs
    with pytest.raises(ConfigError, match=message):
        search_oneshot(ONESHOT.get("darts")(), SPACE, data, **settings)


def test_a_search_needs_a_valid_part() -> None:
    with pytest.raises(ConfigError, match="valid part"):
        search_oneshot(ONESHOT.get("darts")(), SPACE, read_digits(), RECIPE, epochs=1)


def test_a_checkpoint_of_another_search_is_refused(data, tmp_path: Path) -> None:
    checkpoint = tmp_path / "search.ckpt"
    run("darts", data, epochs=1, checkpoint=checkpoint)
    with pytest.raises(ConfigError, match="another training"):
        run("gdas", data, epochs=1, checkpoint=checkpoint)


class SmoothSupernet(torch.nn.Module):
    """Logits bilinear in the edge weights and w: a loss without ReLU kinks, on which finite
    differences are exact to second order."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(0.1 * torch.randn(6, 5, 64, 10, generator=generator))

    def forward(self, x: torch.Tensor, weights: torch.Tensor, path: None = None) -> torch.Tensor:
        return torch.einsum("ek,bi,ekic->bc", weights, x.flatten(1), self.w)


def test_the_second_order_alpha_gradient_matches_the_exact_unrolled_one(data) -> None:
    """The finite-difference step against autograd through the virtual step itself (double
    precision, a smooth loss); the virtual step and the finite differences leave w as it was."""
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=1, seed=0, run=Device.of("cpu"))
    trainer.net = SmoothSupernet().double()
    trainer.alpha.data = trainer.alpha.data.double().normal_(
        generator=torch.Generator().manual_seed(1)
    )
    train, valid = ((x.double(), y) for x, y in next(iter(trainer.batches(0))))
    w = trainer.net.w
    before = w.detach().clone()
    xi, decay = trainer.w_schedule.get_last_lr()[0], trainer.recipe.weight_decay

    (grad,) = torch.autograd.grad(
        trainer.loss(train, weights=trainer.alpha.softmax(dim=1)), w, create_graph=True
    )
    ahead = w - xi * (grad + decay * w)
    logits = torch.einsum(
        "ek,bi,ekic->bc", trainer.alpha.softmax(dim=1), valid[0].flatten(1), ahead
    )
    loss = torch.nn.functional.cross_entropy(logits, valid[1])
    exact = torch.autograd.grad(loss, trainer.alpha)[0]
    first_order = torch.autograd.grad(
        torch.nn.functional.cross_entropy(
            torch.einsum(
                "ek,bi,ekic->bc", trainer.alpha.softmax(dim=1), valid[0].flatten(1), ahead.detach()
            ),
            valid[1],
        ),
        trainer.alpha,
    )[0]

    trainer.alpha_optimizer.step = lambda: None  # keep the gradient the step computes
    darts._unrolled_alpha_step(trainer, train, valid)
    torch.testing.assert_close(trainer.alpha.grad, exact, rtol=1e-3, atol=1e-8)
    assert not torch.allclose(first_order, exact, rtol=1e-3)  # the correction matters here
    assert torch.equal(w.detach(), before)


def test_darts_order_is_one_or_two() -> None:
    with pytest.raises(ConfigError, match="order must be 1 or 2"):
        ONESHOT.get("darts")(order=3)
