"""PMF-NAS: its stages, allocation decisions, resume and real data (its budget and determinism:
test_contract.py)."""

import json
import sqlite3

import numpy as np
import pytest

from pmfnas.errors import ConfigError, StorageError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import STRATEGIES, create_strategy
from pmfnas.strategies.pmf.allocation import cost_ratio, plan_promotion, potential
from pmfnas.strategies.pmf.exploration import LowFill, edge_distance, find_regions, low_scores
from pmfnas.strategies.pmf.pool import Pool
from pmfnas.study import Study
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.tables.nb201_proxies import shipped_proxies
from pmfnas.types import Fidelity

SMALL = {"low_sample": 400}  # a short stage 1 keeps these tests quick
BUDGET = 20000.0


@pytest.fixture(scope="module")
def space():
    return NB201Space()


@pytest.fixture(scope="module")
def evaluator(data_dir):
    proxies = shipped_proxies()
    if not proxies:
        pytest.skip("the shipped NB201 proxy table is not installed")
    return TabularEvaluator(NB201Benchmark.load(data_dir / "nb201"), "cifar10", proxies=proxies)


def _run(space, evaluator, budget=BUDGET, seed=0, storage=None, plan=None, **params):
    """One PMF study; ``plan`` is the strategy's own budget (default: the study's)."""
    strategy = create_strategy(
        "pmf", space, seed=seed, budget=plan, ladder=evaluator.ladder, **{**SMALL, **params}
    )
    result = Study(space, evaluator, strategy, budget, storage=storage, name="pmf").run()
    return strategy, result


def _keys(trials):
    return [(t.arch, t.fidelity, t.reason) for t in trials]


# ---------------------------------------------------------------- stage 1


def test_regions_are_distinct_neighbourhoods_around_the_best_scores(space):
    encoding = Pool(space, 0, 0).encoding
    convs = np.array([cell.count(3) for cell in space], dtype=float)
    score = convs + 0.01 * np.array([cell.count(2) for cell in space])
    regions = find_regions(score, encoding, count=4, radius=2)
    assert len(regions) == 4
    assert space.arch(regions[0].centre) == (3,) * 6
    centres = [r.centre for r in regions]
    for i, centre in enumerate(centres):
        others = [c for c in centres if c != centre]
        assert edge_distance(encoding, centre)[others].min() >= 4
        members = regions[i].members
        assert edge_distance(encoding, centre)[members].max() <= 2
    everyone = np.concatenate([r.members for r in regions])
    assert len(everyone) == len(set(everyone.tolist()))  # each cell in one region at most


def test_low_scores_combine_ranks_and_unscored_cells_are_predicted(space):
    encoding = Pool(space, 0, 0).encoding
    convs = np.array([cell.count(3) for cell in space], dtype=float)
    scored = np.zeros(space.size, dtype=bool)
    scored[np.random.default_rng(0).choice(space.size, 3000, replace=False)] = True
    raw = {"a": np.where(scored, convs, np.nan), "b": np.where(scored, 2 * convs, np.nan)}
    score = low_scores(raw, scored)
    assert np.isnan(score[~scored]).all() and (score[scored] >= 0).all()
    filled = LowFill(score, encoding, seed=0).filled()
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[scored], score[scored])
    assert np.corrcoef(filled[~scored], convs[~scored])[0, 1] > 0.9


def test_stage_one_stops_at_its_budget_share_and_hands_over_regions(space, evaluator):
    strategy, result = _run(space, evaluator, low_sample=0, low_share=0.01)
    low = [t for t in result.trials if t.fidelity.is_proxy]
    # the share holds up to one cell (the next cell's cost is known only afterwards)
    assert 0.01 * BUDGET - 1 < sum(t.cost for t in low) <= 0.01 * BUDGET + max(t.cost for t in low)
    first_medium = next(i for i, t in enumerate(result.trials) if not t.fidelity.is_proxy)
    assert all(t.fidelity.is_proxy for t in result.trials[:first_medium])
    assert result.trials[first_medium].reason.startswith("stage 2: centre of region 0")
    assert strategy.decisions[0].startswith(f"stage 1 done: {len(low)} cells scored")
    assert len(strategy.regions) == 8


# ---------------------------------------------------------------- stage 2


def test_stage_two_draws_after_the_centres_and_larger_batches_add_regional_ucb(space, evaluator):
    def stage_two(**params):
        _, result = _run(space, evaluator, budget=5000.0, plan=BUDGET, **params)
        return [t.reason for t in result.trials if t.reason.startswith("stage 2")]

    single = stage_two()
    assert all(r.startswith("stage 2: centre of region") for r in single[:8])
    assert len(single) > 16 and all(", Thompson draw " in r for r in single[8:])
    batched = stage_two(batch=3)[8:]
    ucb = [r for r in batched if ", UCB " in r]
    assert len(ucb) == pytest.approx(2 / 3 * len(batched), abs=3)
    assert any(r.startswith("stage 2: region ") for r in ucb)


# ---------------------------------------------------------------- allocation


def _plan(**overrides):
    args = {
        "cells": np.array([10, 11, 12]),
        "mu": np.array([91.0, 90.9, 88.0]),
        "sigma": np.array([0.3, 0.3, 0.3]),
        "cost": np.array([2500.0, 2400.0, 2000.0]),
        "incumbent": None,
        "left": 15000.0,
        "medium_cost": 150.0,
        "stalled": None,
        "spent": (8000.0, 0.0),
        "kappa": 1.0,
        "p_min": 0.2,
        "cap": 10000.0,
    }
    return plan_promotion(**{**args, **overrides})


def test_no_promotion_while_medium_search_is_productive_and_the_reserve_fits():
    assert _plan() is None


def test_the_reserve_of_contenders_triggers_a_promotion_of_the_best_ucb():
    promotion = _plan(left=5000.0)  # 2 contenders need 4900 s: medium search must stop
    assert promotion.cell == 10
    assert "reserve: 2 contender(s) need 4900 s" in promotion.reason
    assert promotion.reason.startswith("stage 3 promotion")


def test_a_stall_promotes_only_while_high_fidelity_would_not_outspend_medium():
    stalled = _plan(stalled=20)
    assert stalled.cell == 10 and "stalled for 20 evaluations" in stalled.reason
    assert _plan(stalled=20, spent=(2000.0, 0.0)) is None


def test_confidently_poor_candidates_are_stopped_and_said_so():
    promotion = _plan(incumbent=90.8, left=3000.0)
    assert promotion.cell == 10
    assert "1 confidently below the best stay unpromoted" in promotion.reason
    # nobody beats a strong incumbent: keep searching at medium fidelity
    assert _plan(incumbent=95.0, left=3000.0) is None


def test_a_stall_with_no_contender_takes_a_long_shot_within_the_medium_spending():
    # incumbent 91.5: P(beats best) is 0.05 and 0.02, below p_min, but not negligible
    assert _plan(incumbent=91.5) is None  # medium search still finds better cells
    promotion = _plan(incumbent=91.5, stalled=20)
    assert promotion.cell == 10 and "no contender left" in promotion.reason
    assert _plan(incumbent=91.5, stalled=20, spent=(2000.0, 0.0)) is None
    assert _plan(incumbent=95.0, stalled=20) is None  # confidently poor: never promoted


def test_at_the_end_of_the_budget_any_affordable_chance_is_taken():
    promotion = _plan(incumbent=91.5, left=2450.0, medium_cost=3000.0)
    assert promotion.cell == 11  # the only one that fits
    assert "end of budget" in promotion.reason


def test_cost_ratio_and_potential():
    assert cost_ratio([], prior=200 / 12) == pytest.approx(16.67, abs=0.01)
    assert cost_ratio([(100.0, 1600.0), (200.0, 3400.0), (50.0, 850.0)], prior=1.0) == 17.0
    np.testing.assert_array_equal(potential(np.array([1.0]), np.array([1.0]), None), [1.0])
    p = potential(np.array([91.0, 90.0]), np.array([0.5, 0.5]), 90.0)
    assert p[0] == pytest.approx(0.977, abs=1e-3) and p[1] == 0.5


# ---------------------------------------------------------------- the whole strategy


def test_registered_with_its_fidelity_ladder_as_parameters(space, ladder):
    assert "pmf" in STRATEGIES.names()
    pmf = create_strategy("pmf", space, low="none", medium="epochs=3,fraction=0.25", ladder=ladder)
    assert pmf.params()["medium"] == "epochs=3,fraction=0.25"
    assert pmf.params()["low"] == "none"
    assert pmf.params()["high"] == "epochs=200"  # the ladder's, where the parameters name none
    for bad in (
        {"medium": "epochs=200", "high": "epochs=12"},
        {"low": "epochs=1"},
        {"p_min": 0.7},
        {"keep": 0.0},
        {"predictor": "svm"},
        {"budget": -1.0},
    ):
        with pytest.raises(ConfigError):
            create_strategy("pmf", space, ladder=ladder, **bad)
    with pytest.raises(ConfigError, match="plans against a budget"):
        create_strategy("pmf", space, ladder=ladder).ask()


def test_every_decision_has_a_reason(space, evaluator):
    strategy, result = _run(space, evaluator)
    ladder = {Fidelity.parse("proxy:meco,synflow"), Fidelity(epochs=12), Fidelity(epochs=200)}
    assert {t.fidelity for t in result.trials} == ladder
    high = [t for t in result.trials if t.fidelity.epochs == 200]
    assert high and all(t.reason.startswith("stage 3 promotion") for t in high)
    assert all(t.reason for t in result.trials)
    # ... and says it as data too: why it ran, what was predicted, what else was decided
    for t in result.trials:
        words = t.reason.split("; ")
        assert t.info.get("decisions", []) == words[1:]
        if "predicted" in t.info:
            mean, std = t.info["predicted"], t.info["predicted_std"]
            assert f"{mean:.2f} ± {std:.2f}" in words[0]
    assert {t.info["origin"] for t in high} == {"promoted"}
    assert {t.info["predicted_by"] for t in high} == {"promotion predictor"}
    medium = [t for t in result.trials if t.fidelity.epochs == 12]
    assert {t.info["origin"] for t in medium} <= {"regional search", "refinement"}
    drawn = [t for t in medium if ", Thompson draw " in t.reason]
    assert drawn and all(t.info["predicted_by"] == "medium surrogate" for t in drawn)
    assert result.best.fidelity == Fidelity(epochs=200)
    assert result.best.val_acc == max(t.val_acc for t in high)
    promotions = [d for d in strategy.decisions if d.startswith("promote")]
    assert len(promotions) == len(high)
    # the search must earn its high-fidelity spending: a good cell, not a lucky one
    assert evaluator.test_accuracy(result.best.arch) > 93.5


@pytest.mark.parametrize("climb", [1, 3])
def test_refinements_climb_from_the_best_climb_high_fidelity_results(space, evaluator, climb):
    """A high-fidelity result starts a refinement only while fewer than ``climb`` earlier ones
    are at least as good: with 1, new bests alone; with 3, the runners-up too."""
    _, result = _run(space, evaluator, budget=40000.0, climb=climb, refine=2)
    high = [t for t in result.trials if t.fidelity.epochs == 200]
    rank = {t.number: sum(u.val_acc >= t.val_acc for u in high[:k]) for k, t in enumerate(high)}
    around = {t.info["around_trial"] for t in result.trials if t.info.get("origin") == "refinement"}
    assert around and all(rank[number] < climb for number in around)
    if climb > 1:
        assert any(rank[number] > 0 for number in around)  # not a new best, refined all the same


def test_the_climb_starts_after_climb_after_high_fidelity_results_from_their_best(space, evaluator):
    """No refinement before ``climb_after`` full results; the first is around their best."""
    _, result = _run(space, evaluator, budget=40000.0, climb=2, climb_after=3, refine=2)
    high = [t for t in result.trials if t.fidelity.epochs == 200]
    refined = [t for t in result.trials if t.info.get("origin") == "refinement"]
    assert len(high) > 3 and refined
    assert refined[0].number > high[2].number  # after the third full result
    assert refined[0].info["around_trial"] == max(high[:3], key=lambda t: t.val_acc).number


def test_resume_mid_stage_equals_an_uninterrupted_run(space, evaluator, tmp_path):
    """Stopped at 40 % of the budget (inside stage 2), then extended: the plan is the full
    budget's throughout (``budget=``), so the extension replays and goes on identically."""
    whole = _run(space, evaluator)[1].trials
    db = Storage(tmp_path / "pmf.db")
    try:
        first = _run(space, evaluator, budget=0.4 * BUDGET, storage=db, plan=BUDGET)[1]
        assert any(t.fidelity.epochs == 12 for t in first.trials)
        assert not any(t.fidelity.epochs == 200 for t in first.trials)
        resumed = _run(space, evaluator, storage=db, plan=BUDGET)[1]
    finally:
        db.close()
    assert _keys(resumed.trials) == _keys(whole)
    assert [t.cost for t in resumed.trials] == [t.cost for t in whole]


def test_a_study_stored_before_a_parameter_existed_resumes_at_its_default(
    space, evaluator, tmp_path
):
    """A PMF study stored by a version without ``climb`` resumes: the absent parameter stands
    for its default (the behaviour the study ran with), so the extension replays exactly."""
    whole = _run(space, evaluator)[1].trials
    path = tmp_path / "old.db"
    db = Storage(path)
    try:
        _run(space, evaluator, budget=0.4 * BUDGET, storage=db, plan=BUDGET)
    finally:
        db.close()
    con = sqlite3.connect(path)
    config = json.loads(con.execute("SELECT config FROM studies").fetchone()[0])
    del config["params"]["climb"]
    con.execute("UPDATE studies SET config = ?", (json.dumps(config, sort_keys=True),))
    con.commit()
    con.close()
    db = Storage(path)
    try:
        resumed = _run(space, evaluator, storage=db, plan=BUDGET)[1]
    finally:
        db.close()
    assert _keys(resumed.trials) == _keys(whole)


class _Crash(BaseException):
    """A killed process: nothing the study could take for one failed evaluation."""


class _CrashingEvaluator:
    """The tabular evaluator, dying after ``after`` evaluations (a killed process)."""

    def __init__(self, inner, after):
        self.inner, self.after, self.budget_unit = inner, after, inner.budget_unit

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def evaluate(self, arch, fidelity, limit=None):
        if self.after == 0:
            raise _Crash
        self.after -= 1
        return self.inner.evaluate(arch, fidelity, limit)


def test_a_crash_mid_search_resumes_by_replay(space, evaluator, tmp_path):
    whole = _run(space, evaluator)[1].trials
    crash_at = next(i for i, t in enumerate(whole) if t.fidelity.epochs == 200) + 5
    db = Storage(tmp_path / "crash.db")
    try:
        with pytest.raises(_Crash):
            _run(space, _CrashingEvaluator(evaluator, crash_at), storage=db)
        resumed = _run(space, evaluator, storage=db)[1]
        with pytest.raises(StorageError):  # another configuration does not replay this history
            _run(space, evaluator, storage=db, kappa=2.0)
    finally:
        db.close()
    assert _keys(resumed.trials) == _keys(whole)


def test_without_a_low_fidelity_regions_start_from_random_cells(space, evaluator):
    strategy, result = _run(space, evaluator, low="none")
    assert not any(t.fidelity.is_proxy for t in result.trials)
    assert result.best.fidelity == Fidelity(epochs=200)
    assert strategy.decisions[0].startswith("stage 1 done: 0 cells scored at none")


def _small_pmf(space, **params):
    """PMF sized for a search of seconds on the digits (``params`` add to or replace these)."""
    small = dict(low="proxy:synflow,nwot", low_share=0.1, regions=2, batch=2, patience=3)
    return create_strategy("pmf", space, **{**small, "region_min": 1, **params})


def test_real_data_smoke_test():
    """Proxies, then one epoch on half the digits, then three epochs: the same code as on the
    table, here on a compute budget."""
    from pmfnas.runs.profiles import real_data_evaluator, training_evaluator

    training = training_evaluator("digits", budget_unit="flops")
    evaluator = real_data_evaluator(training)
    space = NB201Space()
    strategy = _small_pmf(space, medium="epochs=1,fraction=0.5", high="epochs=3", low_sample=30)
    result = Study(space, evaluator, strategy, 2e10).run()
    fidelities = {t.fidelity for t in result.trials}
    assert {Fidelity.parse("proxy:synflow,nwot"), Fidelity.parse("epochs=1,fraction=0.5")} <= (
        fidelities
    )
    assert result.best is not None and result.best.fidelity == max(
        t.fidelity for t in result.trials if "val_acc" in t.metrics
    )
    assert 0 <= result.best.info["test_acc"] <= 100
    assert all(t.reason for t in result.trials)


def test_promotions_continue_their_prefix_medium_runs():
    from pmfnas.evaluators.training import TrainingEvaluator
    from pmfnas.runs.profiles import real_data_evaluator, training_evaluator
    from pmfnas.training import TrainingRecipe

    digits = training_evaluator("digits").data
    tiny = TrainingRecipe(batch_size=128, channels=4, cells_per_stage=1)
    evaluator = real_data_evaluator(TrainingEvaluator(digits, tiny, budget_unit="flops"))
    space = NB201Space()
    medium = Fidelity.parse("epochs=1,horizon=3")
    strategy = _small_pmf(space, medium=str(medium), high="epochs=3", patience=2, low_sample=30)
    trials = Study(space, evaluator, strategy, 6e9).run().trials
    first_runs = {t.arch: t for t in trials if t.fidelity == medium}
    promoted = [t for t in trials if t.fidelity == Fidelity(epochs=3)]
    assert promoted
    for trial in promoted:
        prefix = first_runs[trial.arch]
        assert trial.curve[0] == prefix.curve[0]  # the same first epoch, not redone
        # the prefix paid an epoch and a test pass, the promotion two epochs and a test pass
        assert prefix.cost < trial.cost < 2 * prefix.cost
