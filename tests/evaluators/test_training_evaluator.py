"""Real-training evaluation: fidelity knobs, hidden test accuracy, studies, the proxy+training ladder."""

import numpy as np
import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.errors import ConfigError, FidelityError
from pmfnas.evaluators.multi import MultiFidelityEvaluator
from pmfnas.evaluators.proxy import ProxyEvaluator
from pmfnas.evaluators.training import TrainingEvaluator
from pmfnas.runs.profiles import real_data_evaluator, training_evaluator, training_recipe
from pmfnas.runs.search import run_training_search
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.costs import params_and_flops
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import Study
from pmfnas.training import TrainingRecipe
from pmfnas.types import Fidelity, Trial, TrialState

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
    assert set(result.private) == {"test_acc", "test_loss", "seconds", "flops"}
    assert result.cost == result.private["seconds"] > 0 and len(result.curve) == 2
    assert not result.stopped


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


def _measured(result):
    """What a training measured, without its wall seconds (they differ from run to run)."""
    return {k: v for k, v in result.private.items() if k != "seconds"}


def test_same_seed_same_result(digits):
    a = TrainingEvaluator(digits, TINY, seed=1).evaluate(CELL, Fidelity(epochs=2))
    b = TrainingEvaluator(digits, TINY, seed=1).evaluate(CELL, Fidelity(epochs=2))
    assert a.curve[-1]["valid_loss"] == b.curve[-1]["valid_loss"]
    assert _measured(a) == _measured(b)


def _flops(digits, arch, epochs, train=None):
    """NB201's forward FLOPs of ``arch`` at TINY's size on the digits (checked against the
    official records in test_nb201_costs) times the work of ``epochs`` epochs on ``train``
    training images and a test pass."""
    _, mflops = params_and_flops(
        np.array([arch]), channels=TINY.channels, cells_per_stage=TINY.cells_per_stage,
        num_classes=10, input_size=8, input_channels=1,
    )  # fmt: skip
    train = len(digits.train_y) if train is None else train
    images = epochs * (3 * train + len(digits.valid_y)) + len(digits.test_y)
    return mflops[0] * 1e6 * images


def test_flops_are_counted_not_timed(digits):
    evaluator = TrainingEvaluator(digits, TINY, budget_unit="flops")
    fidelity = Fidelity(epochs=2, fraction=0.5)
    expected = evaluator.expected_cost(CELL, fidelity)
    half = len(evaluator.dataset(fidelity).train_y)
    assert expected == pytest.approx(_flops(digits, CELL, 2, half), rel=1e-9)
    result = evaluator.evaluate(CELL, fidelity)
    assert result.cost == expected == result.private["flops"]
    assert result.private["seconds"] > 0
    assert evaluator.describe()["budget_unit"] == "flops"


def test_a_first_training_is_expected_from_a_probe_that_changes_nothing(digits):
    evaluator = TrainingEvaluator(digits, TINY, seed=3)
    fidelity = Fidelity(epochs=2)
    assert evaluator.expected_cost(CELL, fidelity) > 0  # no training yet: a probe
    probed = evaluator.evaluate(CELL, fidelity)
    fresh = TrainingEvaluator(digits, TINY, seed=3).evaluate(CELL, fidelity)
    assert probed.curve[-1]["valid_loss"] == fresh.curve[-1]["valid_loss"]
    assert _measured(probed) == _measured(fresh)


def test_expected_seconds_follow_the_measured_epochs(digits):
    evaluator = TrainingEvaluator(digits, TINY)
    fidelity = Fidelity(epochs=1)
    result = evaluator.evaluate(CELL, fidelity)
    # one network trained at this setting: the next ones scale its epoch time by FLOPs (the
    # epoch and the test pass of arch 0 against CELL's epoch)
    epoch = result.curve[0]["seconds"]
    ratio = _flops(digits, SPACE.arch(0), 1) / (_flops(digits, CELL, 1) - _flops(digits, CELL, 0))
    assert evaluator.expected_cost(SPACE.arch(0), fidelity) == pytest.approx(epoch * ratio)


def test_a_resumed_search_expects_costs_from_the_replayed_trials(digits, monkeypatch):
    first = TrainingEvaluator(digits, TINY)
    fidelity = Fidelity(epochs=1)
    result = first.evaluate(CELL, fidelity)
    trial = Trial(0, CELL, fidelity, TrialState.COMPLETE, result.metrics, result.cost, 1.0,
                  result.curve)  # fmt: skip
    resumed = TrainingEvaluator(digits, TINY)

    def no_probe(*_):
        raise AssertionError("a replayed setting needs no probe")

    monkeypatch.setattr(resumed, "seconds_per_flop", no_probe)
    resumed.observe(trial)
    expected = resumed.expected_cost(SPACE.arch(0), fidelity)
    assert expected == pytest.approx(first.expected_cost(SPACE.arch(0), fidelity))


def test_proxies_and_training_charge_one_unit(digits):
    with pytest.raises(ConfigError, match="one unit"):
        MultiFidelityEvaluator(
            ProxyEvaluator(digits), TrainingEvaluator(digits, TINY, budget_unit="flops")
        )


def test_a_training_stops_at_its_limit_on_a_batch_boundary(digits):
    ticks = iter(range(10**6))  # a fake clock: one second per reading
    evaluator = TrainingEvaluator(digits, TINY, clock=lambda: float(next(ticks)))
    result = evaluator.evaluate(CELL, Fidelity(epochs=3), limit=12.0)
    batches = -(-len(digits.train_y) // TINY.batch_size)  # 9 per epoch
    assert result.stopped and result.metrics == {}
    assert len(result.curve) == 1  # one whole epoch, then part of the second
    assert 1 < result.private["epochs_done"] < 2
    assert result.private["epochs_done"] * batches == pytest.approx(round(
        result.private["epochs_done"] * batches
    ))  # fmt: skip
    assert "test_acc" not in result.private


def test_a_promotion_continues_its_prefix_and_pays_only_the_new_epochs(digits, tmp_path):
    torch.set_num_threads(1)  # bit-identical weights need the same thread count throughout
    evaluator = TrainingEvaluator(digits, TINY, seed=2, budget_unit="flops")
    prefix = evaluator.evaluate(CELL, Fidelity.parse("epochs=1,horizon=3"))
    test_pass = _flops(digits, CELL, 0)
    assert prefix.cost == pytest.approx(_flops(digits, CELL, 1))
    new_epochs = _flops(digits, CELL, 2) - test_pass
    assert evaluator.expected_cost(CELL, Fidelity(epochs=3)) == pytest.approx(
        new_epochs + test_pass
    )
    assert evaluator.expected_cost(SPACE.arch(0), Fidelity(epochs=3)) == pytest.approx(
        _flops(digits, SPACE.arch(0), 3)
    )
    continued = evaluator.evaluate(CELL, Fidelity(epochs=3))
    assert continued.curve[0] == prefix.curve[0]
    assert continued.cost == pytest.approx(new_epochs + test_pass)
    whole = TrainingEvaluator(digits, TINY, seed=2).evaluate(CELL, Fidelity(epochs=3))
    assert [r["valid_loss"] for r in continued.curve] == [r["valid_loss"] for r in whole.curve]
    assert _measured(continued)["test_acc"] == _measured(whole)["test_acc"]


def test_only_prefixes_are_kept_without_a_checkpoint_folder(digits):
    evaluator = TrainingEvaluator(digits, TINY)
    evaluator.evaluate(CELL, Fidelity(epochs=1))
    assert evaluator.checkpoint_path(CELL, Fidelity(epochs=1)) is None
    path = evaluator.checkpoint_path(CELL, Fidelity.parse("epochs=1,horizon=2"))
    assert path is not None and not path.exists()
    evaluator.evaluate(CELL, Fidelity.parse("epochs=1,horizon=2"))
    assert path.is_file()


def test_a_continued_training_answered_from_its_checkpoint_costs_the_same(digits, tmp_path):
    first = TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path, budget_unit="flops")
    prefix = first.evaluate(CELL, Fidelity.parse("epochs=1,horizon=2"))
    continued = first.evaluate(CELL, Fidelity(epochs=2))
    again = TrainingEvaluator(digits, TINY, checkpoint_dir=tmp_path, budget_unit="flops")
    answered = again.evaluate(CELL, Fidelity(epochs=2))
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert answered.curve == continued.curve
    assert answered.cost == continued.cost == prefix.cost  # an epoch and a test pass each


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
    assert again.curve == result.curve and _measured(again) == _measured(result)


def test_study_stores_the_hidden_test_accuracy(digits, tmp_path):
    evaluator = TrainingEvaluator(digits, TINY, budget_unit="flops")
    strategy = create_strategy("random", SPACE, seed=0, fidelity="epochs=1")
    storage = Storage(tmp_path / "runs.db")
    result = Study(SPACE, evaluator, strategy, budget=1e9, storage=storage).run()
    assert result.trials and all("test_acc" in t.info for t in result.trials)
    stored = storage.trials(
        storage.study("default", Study(SPACE, evaluator, strategy, 1e9).config()), SPACE
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
        ("sh", {}, {"rungs": "proxy:meco,synflow;epochs=4;epochs=12"}),
        (
            "pmf",
            {"high": "epochs=6"},
            {"low": "proxy:meco,synflow", "medium": "epochs=4", "high": "epochs=6"},
        ),
    ],
)
def test_real_training_defaults_sit_under_the_users_parameters(digits, strategy, params, expected):
    """The evaluator's ladder and PMF's real-training profile, under the user's parameters."""
    ladder = real_data_evaluator(TrainingEvaluator(digits, TINY, budget_unit="flops"))
    params = {**params, "low_sample": 10} if strategy == "pmf" else params
    summary = run_training_search(ladder, strategy=strategy, budget=2e9, params=params)
    assert {key: summary["params"][key] for key in expected} == expected


def test_the_real_data_ladder_climbs_proxies_a_short_and_the_full_training(digits):
    wall = real_data_evaluator(TrainingEvaluator(digits, TINY)).ladder
    assert [str(f) for f in wall.rungs()] == ["proxy:meco,synflow", "epochs=4", "epochs=12"]
    assert wall.single == Fidelity(epochs=12)  # as on the table: NB201's 12-epoch schedule
    assert wall.default_budget == 180.0  # three minutes, as `pmfnas search` spends
    flops = real_data_evaluator(TrainingEvaluator(digits, TINY, budget_unit="flops"))
    assert flops.ladder.default_budget is None  # a compute budget has no default
    sizes = params_and_flops(
        np.array([CELL]),
        channels=4,
        cells_per_stage=1,
        num_classes=10,
        input_size=8,
        input_channels=1,
    )
    assert wall.network_size(CELL) == pytest.approx((sizes[0][0], sizes[1][0]))


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
