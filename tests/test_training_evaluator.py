"""Real-training evaluation: fidelity knobs, hidden test accuracy, studies, the proxy+training ladder."""

import pytest
import torch

from pmfnas.api import (
    TRAINING_LADDER,
    real_data_evaluator,
    run_training_search,
    training_evaluator,
    training_recipe,
)
from pmfnas.data import load_dataset
from pmfnas.errors import ConfigError, FidelityError
from pmfnas.evaluators.training import TrainingEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import Study
from pmfnas.training import TrainingRecipe
from pmfnas.types import Fidelity

SPACE = NB201Space()
CELL = SPACE.arch(6111)
TINY = TrainingRecipe(batch_size=128, channels=4, cells_per_stage=1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="holdout")


@pytest.fixture
def evaluator(digits):
    return TrainingEvaluator(digits, TINY, seed=0)


def test_result_hides_test_accuracy_from_the_strategy(evaluator):
    result = evaluator.evaluate(CELL, Fidelity(epochs=2))
    assert set(result.metrics) == {"val_acc", "val_loss", "train_acc", "train_loss"}
    assert result.val_acc == result.curve[-1]["valid_acc"]
    assert set(result.private) == {"test_acc", "test_loss"}
    assert result.cost > 0 and len(result.curve) == 2


def test_fidelity_knobs_shape_the_training(evaluator, digits):
    fidelity = Fidelity(epochs=1, fraction=0.5, resolution=16, channels=6, cells=2)
    data = evaluator.dataset(fidelity)
    assert data.image_size == (16, 16)
    assert abs(len(data.train_y) - len(digits.train_y) / 2) <= 10  # stratified: ±1 per class
    assert len(data.part("valid")[1]) == len(digits.part("valid")[1])  # never reduced
    net = evaluator.network(CELL, fidelity)
    assert net.stem[0].out_channels == 6 and len(net.cells) == 2 * 3 + 2
    assert evaluator.dataset(fidelity) is data  # made once
    evaluator.evaluate(CELL, fidelity)


def test_same_seed_same_result(digits):
    a = TrainingEvaluator(digits, TINY, seed=1).evaluate(CELL, Fidelity(epochs=2))
    b = TrainingEvaluator(digits, TINY, seed=1).evaluate(CELL, Fidelity(epochs=2))
    assert a.curve[-1]["valid_loss"] == b.curve[-1]["valid_loss"]
    assert a.private == b.private


def test_expected_cost_learns_from_earlier_trainings(evaluator):
    fidelity = Fidelity(epochs=1)
    assert evaluator.expected_cost(CELL, fidelity) is None
    cost = evaluator.evaluate(CELL, fidelity).cost
    assert evaluator.expected_cost(SPACE.arch(0), fidelity) == pytest.approx(cost, rel=0.05)


def test_a_promotion_continues_its_prefix_and_pays_only_the_new_epochs(digits, tmp_path):
    torch.set_num_threads(1)  # bit-identical weights need the same thread count throughout
    evaluator = TrainingEvaluator(digits, TINY, seed=2)
    prefix = evaluator.evaluate(CELL, Fidelity.parse("epochs=1,horizon=3"))
    per_epoch = prefix.curve[0]["seconds"]
    assert evaluator.expected_cost(CELL, Fidelity(epochs=3)) == pytest.approx(2 * per_epoch)
    assert evaluator.expected_cost(SPACE.arch(0), Fidelity(epochs=3)) == pytest.approx(
        3 * per_epoch
    )
    continued = evaluator.evaluate(CELL, Fidelity(epochs=3))
    assert continued.curve[0] == prefix.curve[0]
    assert continued.cost == pytest.approx(sum(r["seconds"] for r in continued.curve[1:]), rel=0.2)
    whole = TrainingEvaluator(digits, TINY, seed=2).evaluate(CELL, Fidelity(epochs=3))
    assert [r["valid_loss"] for r in continued.curve] == [r["valid_loss"] for r in whole.curve]
    assert continued.private == whole.private
    assert whole.cost > continued.cost


def test_only_prefixes_are_kept_without_a_checkpoint_folder(digits):
    evaluator = TrainingEvaluator(digits, TINY)
    evaluator.evaluate(CELL, Fidelity(epochs=1))
    assert evaluator.checkpoint_path(CELL, Fidelity(epochs=1)) is None
    path = evaluator.checkpoint_path(CELL, Fidelity.parse("epochs=1,horizon=2"))
    assert path is not None and not path.exists()
    evaluator.evaluate(CELL, Fidelity.parse("epochs=1,horizon=2"))
    assert path.is_file()


def test_a_continued_training_answered_from_its_checkpoint_costs_the_same(digits, tmp_path):
    first = TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path)
    first.evaluate(CELL, Fidelity.parse("epochs=1,horizon=2"))
    continued = first.evaluate(CELL, Fidelity(epochs=2))
    again = TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path).evaluate(
        CELL, Fidelity(epochs=2)
    )
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert again.curve == continued.curve
    assert (
        continued.curve[1]["seconds"] <= again.cost <= continued.cost
    )  # the epoch after the prefix


def test_errors(digits):
    with pytest.raises(ConfigError, match="validation part"):
        TrainingEvaluator(load_dataset("digits"), TINY)
    with pytest.raises(FidelityError):
        TrainingEvaluator(digits, TINY).evaluate(CELL, Fidelity(proxies=("nwot",)))


def test_checkpoints_answer_a_finished_training(digits, tmp_path):
    first = TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path)
    result = first.evaluate(CELL, Fidelity(epochs=2))
    assert len(list(tmp_path.glob("*.pt"))) == 1
    again = TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path).evaluate(
        CELL, Fidelity(epochs=2)
    )
    assert again.curve == result.curve and again.private == result.private


def test_study_stores_the_hidden_test_accuracy(digits, tmp_path):
    evaluator = TrainingEvaluator(digits, TINY)
    strategy = create_strategy("random", SPACE, seed=0, fidelity="epochs=1")
    storage = Storage(tmp_path / "runs.db")
    result = Study(SPACE, evaluator, strategy, budget=3.0, storage=storage).run()
    assert result.trials and all("test_acc" in t.info for t in result.trials)
    stored = storage.trials(
        storage.study("default", Study(SPACE, evaluator, strategy, 3.0).config()), SPACE
    )
    assert [t.info["test_acc"] for t in stored] == [t.info["test_acc"] for t in result.trials]
    storage.close()


def test_the_ladder_routes_proxies_and_training(digits):
    ladder = real_data_evaluator(TrainingEvaluator(digits, TINY))
    proxies = ladder.evaluate(CELL, Fidelity(proxies=("nwot", "synflow")))
    assert set(proxies.metrics) == {"nwot", "synflow"} and proxies.cost > 0
    trained = ladder.evaluate(CELL, Fidelity(epochs=1))
    assert "val_acc" in trained.metrics
    assert ladder.describe()["evaluator"] == "proxies+training"


@pytest.mark.parametrize(
    ("strategy", "params", "expected"),
    [
        # the tabular ladder ends at 200 epochs; real training's ends at NB201's 12
        ("sh", {}, {"rungs": TRAINING_LADDER}),
        ("pmf", {"high": "epochs=6"}, {"medium": "epochs=4", "high": "epochs=6"}),
    ],
)
def test_real_training_defaults_sit_under_the_users_parameters(digits, strategy, params, expected):
    ladder = real_data_evaluator(TrainingEvaluator(digits, TINY))
    summary = run_training_search(ladder, strategy=strategy, budget=8.0, params=params)
    assert {key: summary["params"][key] for key in expected} == expected


def test_digits_defaults_are_small():
    recipe = training_recipe("digits")
    assert (recipe.channels, recipe.cells_per_stage, recipe.batch_size) == (8, 1, 64)
    assert training_recipe("cifar10") == TrainingRecipe()
    assert training_recipe("digits", channels=4).channels == 4


@pytest.mark.parametrize(
    ("data", "fidelity", "above"),
    [
        ("cifar10", Fidelity(epochs=3), 25.0),  # the shared subset; chance is 10 %
        ("fashion-mnist", Fidelity(epochs=2, fraction=0.05), 50.0),
    ],
)
def test_real_datasets_learn_clearly_above_chance(data_dir, data, fidelity, above):
    torch.manual_seed(0)
    evaluator = training_evaluator(
        data,
        data_dir=data_dir,
        split="holdout:0.05",
        recipe=TrainingRecipe(batch_size=128, channels=8, cells_per_stage=1),
    )
    result = evaluator.evaluate(CELL, fidelity)
    assert result.val_acc > above and result.private["test_acc"] > above


def test_bad_settings_fail_before_any_training(digits, tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match="seed must be an integer"):
        TrainingEvaluator(digits, TINY, seed=-1)
    with pytest.raises(ConfigError, match="afile is a file, not a folder"):
        TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path / "afile" / "ck")
    with pytest.raises(ConfigError, match="input size 6 does not fit"):
        TrainingEvaluator(digits.resized(6), TINY)
    with pytest.raises(ConfigError, match="input size 2 does not fit"):
        TrainingEvaluator(digits, TINY).evaluate(CELL, Fidelity(epochs=1, resolution=2))
    with pytest.raises(ConfigError, match="widest is C="):
        TrainingEvaluator(digits, TINY).evaluate(CELL, Fidelity(epochs=1, channels=20000))
