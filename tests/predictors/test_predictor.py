"""The predictor package: features from early-training evidence and the bootstrapped ensemble."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from pmfnas.errors import ConfigError
from pmfnas.predictors import (
    KINDS,
    EnsemblePredictor,
    FeatureRows,
    curve_features,
    medium_features,
    rank_scores,
)
from pmfnas.types import Fidelity, Trial, TrialState


def _linear(n, seed, noise=0.1):
    """y = 2·x0 − x1 + N(0, noise²): a known answer with a known noise level."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4))
    return x, 2 * x[:, 0] - x[:, 1] + rng.normal(0, noise, n)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_learns_a_known_function(kind):
    x, y = _linear(200, 0)
    test_x, test_y = _linear(300, 1, noise=0.0)
    model = EnsemblePredictor(kind, members=8 if kind == "gbt" else 24, seed=0).fit(x, y)
    mean, std = model.predict(test_x)
    assert spearmanr(mean, test_y)[0] > 0.9
    assert np.sqrt(np.mean((mean - test_y) ** 2)) < 0.25
    assert (std > 0).all()


def test_uncertainty_is_calibrated_and_splits_into_spread_and_noise():
    x, y = _linear(300, 2, noise=0.2)
    test_x, test_y = _linear(2000, 3, noise=0.2)
    model = EnsemblePredictor("extra_trees", members=32, seed=0).fit(x, y)
    mean, std = model.predict(test_x)
    inside = np.mean(np.abs(test_y - mean) <= 2 * std)
    assert 0.85 <= inside <= 1.0
    assert 0.1 < model.noise < 0.4  # the true noise is 0.2
    _, spread = model.predict(test_x, noise=False)
    assert (spread < std).all()
    assert np.isnan(model.oob).sum() < 5


def test_the_noise_estimate_ignores_a_few_broken_rows():
    x, y = _linear(300, 4, noise=0.1)
    y[:6] = -50.0  # a handful of cells that did not train at all
    model = EnsemblePredictor("extra_trees", members=24, seed=0).fit(x, y)
    errors = y[~np.isnan(model.oob)] - model.oob[~np.isnan(model.oob)]
    assert np.sqrt(np.mean(errors**2)) > 5  # what a root-mean-square noise would say
    assert model.noise < 1.0


def test_below_min_points_the_base_column_ranks_and_the_level_is_shifted():
    base = np.array([[70.0], [72.0], [71.0]])
    model = EnsemblePredictor(base=0, min_points=8, prior_std=0.7).fit(base[:2], [90.0, 92.5])
    mean, std = model.predict(base)
    assert model.n_members == 0
    np.testing.assert_allclose(mean, base[:, 0] + 20.25)  # slope 1, mean offset
    assert std[0] == std[1] == std[2] > 0
    empty = EnsemblePredictor(base=0, prior_std=0.7).fit(np.empty((0, 1)), [])
    mean, std = empty.predict(base)
    np.testing.assert_allclose(mean, base[:, 0])
    np.testing.assert_allclose(std, 0.7)


def test_with_enough_points_the_trees_correct_the_base_column():
    rng = np.random.default_rng(5)
    x = rng.random((150, 3))
    y = 0.5 * x[:, 0] + 2.0 * x[:, 1]  # the base column alone misses most of it
    model = EnsemblePredictor(base=0, min_points=8, seed=0).fit(x, y)
    test = rng.random((500, 3))
    truth = 0.5 * test[:, 0] + 2.0 * test[:, 1]
    assert model.n_members == 24
    assert spearmanr(model.predict(test)[0], truth)[0] > spearmanr(test[:, 0], truth)[0] + 0.3


def test_same_seed_same_prediction():
    x, y = _linear(80, 6)
    a = EnsemblePredictor(seed=3).fit(x, y).predict(x[:10])
    b = EnsemblePredictor(seed=3).fit(x, y).predict(x[:10])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "kwargs", [{"kind": "svm"}, {"members": 1}, {"min_points": 1}, {"prior_std": 0.0}]
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        EnsemblePredictor(**kwargs)


def test_rank_scores_leaves_unscored_out_and_ranks_failures_lowest():
    values = np.array([3.0, np.nan, 1.0, np.inf * -1, 2.0, np.nan])
    scored = np.array([True, False, True, True, True, False])
    ranks = rank_scores(values, scored)
    assert np.isnan(ranks[[1, 5]]).all()
    np.testing.assert_allclose(ranks[[0, 4, 2, 3]], [1.0, 2 / 3, 1 / 3, 0.0])
    assert np.isnan(rank_scores(values, np.zeros(6, dtype=bool))).all()


def _trial(metrics, curve=(), cost=120.0):
    return Trial(0, (3,) * 6, Fidelity(epochs=12), TrialState.COMPLETE, metrics, cost, cost, curve)


def test_medium_features_use_what_the_evaluator_reports():
    tabular = medium_features(_trial({"val_acc": 88.5}))
    assert tabular == {"medium_acc": 88.5, "medium_log_cost": pytest.approx(np.log(120.0))}
    curve = tuple({"epoch": e, "valid_acc": 50.0 + 5 * e} for e in range(1, 7))
    real = medium_features(_trial({"val_acc": 80.0, "val_loss": 0.6, "train_acc": 85.0}, curve))
    assert real["medium_val_loss"] == 0.6 and real["medium_train_acc"] == 85.0
    assert real["curve_slope"] == pytest.approx(5.0)  # still rising 5 points per epoch
    assert real["curve_best"] == 80.0
    assert curve_features(curve[:1]) == {}


def test_feature_rows_assemble_common_columns():
    rows = FeatureRows()
    rows.add(1, {"a": 1.0, "b": 2.0})
    rows.add(2, {"a": 3.0, "b": np.nan})
    rows.add(2, {"c": 4.0})
    assert 2 in rows and 3 not in rows
    assert rows.common_columns([1, 2]) == ["a"]
    assert rows.common_columns([1]) == ["a", "b"]
    matrix = rows.matrix([1, 2, 3], ["a", "c"])
    np.testing.assert_array_equal(matrix[:2, 0], [1.0, 3.0])
    assert np.isnan(matrix[0, 1]) and matrix[1, 1] == 4.0 and np.isnan(matrix[2]).all()


def test_a_thompson_draw_is_one_member_and_varies_between_draws():
    x, y = _linear(120, 7)
    model = EnsemblePredictor(members=16, seed=0).fit(x, y)
    rng = np.random.default_rng(0)
    draws = np.stack([model.sample(x[:20], rng) for _ in range(8)])
    mean, _ = model.predict(x[:20])
    assert not all(np.allclose(draws[0], d) for d in draws[1:])
    assert np.abs(draws.mean(axis=0) - mean).max() < np.abs(draws - mean).max()
    few = EnsemblePredictor(min_points=50).fit(x[:10], y[:10])
    np.testing.assert_array_equal(few.sample(x[:5], rng), few.predict(x[:5])[0])
