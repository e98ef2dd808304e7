"""DARTS' training recipe: its values, cutout, the drop-path schedule, the auxiliary loss,
gradient clipping and a resume that ends where an uninterrupted training does."""

import copy

import pytest
import torch
import torch.nn.functional as F

from pmfnas.data import ImageDataset
from pmfnas.data.augment import cutout
from pmfnas.errors import ConfigError
from pmfnas.spaces.darts.space import DartsSpace
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.training import TrainingRecipe, evaluate, fit
from pmfnas.training.loop import Device, drop_path_at, train_step
from pmfnas.training.recipe import RECIPE_EPOCHS, RECIPES, named_recipe

SPACE = DartsSpace()
GENOTYPE = SPACE.resolve("DARTS_V2")
SMALL = {"channels": 4, "cells_per_stage": 1}
RECIPE = TrainingRecipe(
    **{**RECIPES["darts"].as_dict(), **SMALL, "batch_size": 16, "drop_path": 0.3}
)
"""DARTS' recipe at a tiny size, with a drop-path that is on from the second epoch."""


@pytest.fixture(scope="module")
def noise() -> ImageDataset:
    """Random 32 x 32 images (the auxiliary head's input size) of 10 classes."""
    gen = torch.Generator().manual_seed(0)

    def part(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
        return images, torch.randint(0, 10, (n,), generator=gen)

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = part(40), part(8), part(8)
    return ImageDataset(
        "noise", train_x, train_y, test_x, test_y, num_classes=10, mean=(0.5,) * 3,
        std=(0.25,) * 3, valid_x=valid_x, valid_y=valid_y, split="holdout",
    )  # fmt: skip


def network(seed: int = 0, auxiliary: bool = True) -> torch.nn.Module:
    torch.manual_seed(seed)
    return SPACE.network(GENOTYPE, **SMALL, auxiliary=auxiliary)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def test_the_darts_recipe_is_the_published_one():
    darts = named_recipe("darts")
    assert (darts.batch_size, darts.lr, darts.momentum, darts.nesterov) == (96, 0.025, 0.9, False)
    assert (darts.weight_decay, darts.grad_clip, darts.cutout) == (3e-4, 5.0, 16)
    assert (darts.drop_path, darts.auxiliary_weight) == (0.2, 0.4)
    assert (darts.channels, darts.cells_per_stage, darts.augment) == (36, 6, True)
    assert RECIPE_EPOCHS == {"nb201": 12, "darts": 600}
    assert named_recipe("nb201") == TrainingRecipe()


def test_nb201_descriptions_are_what_they_were():
    """Checkpoints and stored studies of NB201 trainings match on the recipe's fields: the
    regularisers, off, are not among them."""
    assert set(TrainingRecipe().as_dict()) == {
        "batch_size", "lr", "momentum", "nesterov", "weight_decay", "augment", "channels",
        "cells_per_stage", "eval_batch_size", "fraction", "resolution", "valid_images",
        "test_images",
    }  # fmt: skip
    assert TrainingRecipe(**RECIPES["darts"].as_dict()) == RECIPES["darts"]


@pytest.mark.parametrize(
    "bad", [{"drop_path": 1.0}, {"drop_path": -0.1}, {"cutout": -1}, {"grad_clip": -1.0},
            {"auxiliary_weight": -0.4}],
)  # fmt: skip
def test_bad_regularisers_are_refused(bad):
    with pytest.raises(ConfigError):
        TrainingRecipe(**bad)


def test_an_unknown_recipe_is_named():
    with pytest.raises(ConfigError, match=r"unknown training recipe 'dart' \(known: nb201, darts"):
        named_recipe("dart")


def _expected_cutout(images, length, rows, cols):
    """DARTS' cutout, image by image, at the given centres."""
    out = images.clone()
    height, width = images.shape[2:]
    for i, (y, x) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        y1, y2 = max(0, y - length // 2), min(height, y + length // 2)
        x1, x2 = max(0, x - length // 2), min(width, x + length // 2)
        out[i, :, y1:y2, x1:x2] = 0
    return out


def test_cutout_zeroes_one_seeded_square_per_image_clipped_at_the_borders():
    images = torch.rand(64, 3, 32, 32) + 1  # no zeros of its own
    out = cutout(images, 16, torch.Generator().manual_seed(3))
    draws = torch.Generator().manual_seed(3)
    rows = torch.randint(32, (64,), generator=draws)
    cols = torch.randint(32, (64,), generator=draws)
    assert torch.equal(out, _expected_cutout(images, 16, rows, cols))
    assert torch.equal(out, cutout(images, 16, torch.Generator().manual_seed(3)))
    zeros = (out == 0).all(1).sum((1, 2))  # every channel, at the same pixels
    assert torch.equal((out == 0).sum((1, 2, 3)), 3 * zeros)
    inside = ((rows >= 8) & (rows <= 24) & (cols >= 8) & (cols <= 24)).nonzero().flatten()
    assert len(inside) and (zeros[inside] == 256).all()  # a whole 16 x 16 square
    clipped = ((rows < 8) | (cols < 8) | (rows > 24) | (cols > 24)).nonzero().flatten()
    assert len(clipped) and (zeros[clipped] < 256).all()
    assert images.min() >= 1  # the input is left alone


def test_drop_path_rises_linearly_from_zero_as_in_darts():
    darts = RECIPES["darts"]
    assert [drop_path_at(darts, e, 600) for e in (0, 300, 599)] == [0.0, 0.1, 0.2 * 599 / 600]


class Probe:
    """A training watcher that notes the network's drop-path probability in every epoch."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def resumed(self, epochs, source, own):
        pass

    def batch(self, at):
        if at.batch == 1:
            self.seen.append(self.model.drop_path)

    def epoch(self, row):
        pass


def test_fit_sets_the_drop_path_of_each_epoch(noise):
    model = network()
    probe = Probe(model)
    fit(model, noise, RECIPE, 3, watcher=probe)
    assert probe.seen == pytest.approx([0.0, 0.1, 0.2])


def test_the_auxiliary_loss_is_added_in_training_only(noise):
    x, y = next(noise.batches("train", 16))
    run = Device.of("cpu")
    reference = network()
    logits = reference(x)  # a training pass (a fresh network is in training mode)
    ce = F.cross_entropy(logits, y)
    with_head = ce + 0.4 * F.cross_entropy(reference.auxiliary_logits, y)
    for recipe, expected in ((RECIPE, with_head), (TrainingRecipe(**SMALL), ce)):
        model = network()
        optimizer, _ = recipe.optimizer(model, 1)
        loss, _ = train_step(model, x, y, optimizer, run, recipe)
        torch.testing.assert_close(loss, expected.detach(), rtol=0, atol=0)
    reference.eval()
    test_x, test_y = noise.part("test")
    with torch.no_grad():
        plain = F.cross_entropy(reference(noise.normalize(test_x)), test_y).item()
    assert reference.auxiliary_logits is None  # in eval mode the head does not run
    assert evaluate(reference, noise, "test")["test_loss"] == pytest.approx(plain, rel=1e-6)


def test_gradients_are_clipped_to_the_recipe_norm(noise):
    x, y = next(noise.batches("train", 16))
    plain = TrainingRecipe(lr=1.0, momentum=0.0, weight_decay=0.0, **SMALL)
    steps = {}
    for clip in (0.0, 1e-3):
        model = network(auxiliary=False)
        before = copy.deepcopy(model)
        optimizer, _ = plain.optimizer(model, 1)
        recipe = TrainingRecipe(**{**plain.as_dict(), "grad_clip": clip})
        train_step(model, x, y, optimizer, Device.of("cpu"), recipe)
        pairs = zip(model.parameters(), before.parameters(), strict=True)
        delta = [(a - b).detach() for a, b in pairs]
        steps[clip] = float(torch.linalg.vector_norm(torch.cat([d.flatten() for d in delta])))
    assert steps[1e-3] == pytest.approx(1e-3, rel=1e-4)  # lr 1: the step is the clipped gradient
    assert steps[0.0] > 100 * steps[1e-3]


def test_a_network_without_the_recipes_head_or_drop_path_is_refused(noise):
    nb201 = NB201Space().network(NB201Space().arch(0), channels=4, cells_per_stage=1,
                                 num_classes=10, input_channels=3)  # fmt: skip
    with pytest.raises(ConfigError, match="drop-path needs a network with drop-path"):
        fit(nb201, noise, RECIPE, 1)
    with pytest.raises(ConfigError, match="auxiliary loss needs a network with an auxiliary head"):
        fit(network(auxiliary=False), noise, RECIPE, 1)


class Crash(Exception):
    """Stands for a crash after an epoch's checkpoint was saved."""


class CrashAfter(Probe):
    def __init__(self, model, epochs):
        super().__init__(model)
        self.after = epochs

    def epoch(self, row):
        if row["epoch"] == self.after:
            raise Crash


def test_a_resumed_darts_training_ends_with_the_uninterrupted_weights(noise, tmp_path):
    path = tmp_path / "run.pt"
    crashed = network()
    with pytest.raises(Crash):
        fit(crashed, noise, RECIPE, 4, seed=2, checkpoint=path, watcher=CrashAfter(crashed, 2))
    resumed = network()
    probe = Probe(resumed)
    result = fit(resumed, noise, RECIPE, 4, seed=2, checkpoint=path, watcher=probe)
    assert probe.seen == pytest.approx([0.15, 0.225])  # epochs 3 and 4 of the schedule
    whole = network()
    reference = fit(whole, noise, RECIPE, 4, seed=2)
    assert same_weights(resumed, whole)
    assert [r["train_loss"] for r in result.curve] == [r["train_loss"] for r in reference.curve]
    other = network()
    fit(other, noise, RECIPE, 4, seed=3)
    assert not same_weights(other, whole)


def test_fit_leaves_the_callers_random_stream(noise):
    model = network()
    torch.manual_seed(11)
    expected = torch.rand(4)
    torch.manual_seed(11)
    fit(model, noise, RECIPE, 2)
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)
