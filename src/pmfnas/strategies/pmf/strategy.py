"""PMF-NAS: progressive multi-fidelity search (our reading of Wang, Hu, Chen, Sun, 2026; issue 5).

1. Global exploration: a large seeded sample (all of it when the budget share allows) is scored
   at the low fidelity (proxies); the scores rank the space and define regions. A space too
   large to enumerate (DARTS) is ranked over a seeded sample of ``pool`` cells that grows by the
   neighbourhoods the search visits (:mod:`~pmfnas.strategies.pmf.pool`).
2. Regional search: the regions' centres, then medium-fidelity evaluations drawn by Thompson
   sampling from a tree-ensemble surrogate of the medium accuracy over the open regions, the
   narrowed space and the neighbours of the best medium results (larger batches add one pick
   per promising region by upper confidence bound); a region that cannot beat the incumbent even
   optimistically is closed (:mod:`~pmfnas.strategies.pmf.regional`).
3. Fine optimisation: promotions to high fidelity of the candidates with the best upper bound
   of predicted high-fidelity accuracy; after a new high-fidelity best (or, with ``climb`` > 1,
   a result among the best ``climb``), its one-edge neighbours the surrogate likes are evaluated
   at medium fidelity and compete for promotion: a climb from the best full results, which in
   a space too large to search at medium fidelity is where the gains are. With ``climb_after``
   > 1 the climb waits for that many promotions from the regional search and starts from the
   best of them, not from whichever region was promoted first.
4. Allocation: stage 2 and 3 interleave as :mod:`~pmfnas.strategies.pmf.allocation` decides.

The fidelities are parameters, by default the evaluator's ladder, so the same code runs on the
tabular benchmark (proxies → 12 → 200 epochs) and on real training (proxies → a short training →
the full one). Every request carries its prediction, rule and trigger in its info, for reports.

With several workers, proxies and medium evaluations run in parallel; a cell in flight (or
whose training failed) is neither picked again nor promoted; stage 2 starts once every proxy score is in (it ranks the
space by them), and PMF waits rather than finishes while results it could learn from are in
flight.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.predictors import (
    KINDS,
    EnsemblePredictor,
    FeatureRows,
    evidence_columns,
    high_fidelity_predictor,
    medium_features,
)
from pmfnas.spaces.base import SearchSpace
from pmfnas.strategies.base import (
    SERIAL,
    STRATEGIES,
    WAIT,
    AskContext,
    BaseStrategy,
    Unaffordable,
    Wait,
)
from pmfnas.strategies.pmf.allocation import Promotion, cost_ratio, plan_promotion
from pmfnas.strategies.pmf.exploration import (
    LowFill,
    Region,
    find_regions,
    low_scores,
    regions_around,
)
from pmfnas.strategies.pmf.pool import Pool
from pmfnas.strategies.pmf.regional import Pick, RegionalSearch
from pmfnas.types import Fidelity, Request, Trial, check_seed


@STRATEGIES.register("pmf")
class ProgressiveMultiFidelity(BaseStrategy):
    """PMF-NAS: proxies, then a regional search at medium fidelity, then promotions to high
    fidelity guided by a predictor of the high-fidelity accuracy.

    Args:
        low: the proxies of stage 1 (default: the evaluator's low fidelity). ``none`` skips
            stage 1, as does an evaluator that offers no low fidelity.
        medium: the fidelity of the regional search (default: the evaluator's medium one).
        high: the fidelity of promotions (default: the evaluator's high one).
        low_share: share of the budget stage 1 may spend (to about one cell).
        low_sample: most cells stage 1 scores (0: all that low_share allows).
        keep: share of the space, best by low score, that stage 2 searches (with the regions).
        regions: regions stage 1 hands on to stage 2.
        radius: size of a region, in edge changes from its centre.
        region_min: medium results a region gets before it competes on potential or is closed.
        batch: medium evaluations chosen per surrogate fit. 1 refits after every result (the
            most adaptive); more fit less often and add regional UCB picks to the Thompson draw.
        kappa: exploration weight of the medium surrogate's upper confidence bound.
        kappa_high: exploration weight of promotions (mean + kappa_high × σ of the predicted
            accuracy).
        patience: medium evaluations without a better medium result that count as a stall.
        p_min: least chance of beating the best high-fidelity result worth a promotion.
        high_cap: largest share of the budget the promotion reserve may claim at once.
        min_high: high-fidelity results before the predictor's trees are fitted. Below that the
            medium-fidelity ranking stands in, shifted to the high-fidelity level.
        surrogate: member model of stage 2's surrogate of the medium accuracy (extra_trees,
            random_forest or gbt).
        predictor: member model of stage 3's predictor of the high-fidelity accuracy (the same
            kinds).
        members: ensemble size of the surrogate and of the predictor.
        refine: neighbours of a new high-fidelity best evaluated at medium fidelity.
        climb: a high-fidelity result among the best ``climb`` ones starts a refinement (1:
            only a new best); more climbs from several good cells, as an evolution keeps a
            population, where medium fidelity ranks a cell's neighbours poorly.
        climb_after: high-fidelity results the first refinement waits for, from the best of
            them (1: from the first); more start the climb from the best of several regions.
        budget: the budget to plan for (default: the study's). Set it to stop a study early and
            extend it later by replay: a plan made for another budget asks other things.
        pool: the cells of a space too large to enumerate that stage 1 starts from (a seeded
            sample); an enumerable space is ranked whole.
        pool_seed: draw that sample as :func:`~pmfnas.spaces.seeded_sample` of this seed, the
            same for every search seed: the genotypes of a DARTS proxy table made with it
            (default: each search seed's own draw).
    """

    name = "pmf"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        low: str | None = None,
        medium: str | None = None,
        high: str | None = None,
        low_share: float = 0.05,
        low_sample: int = 0,
        keep: float = 0.25,
        regions: int = 8,
        radius: int = 2,
        region_min: int = 3,
        batch: int = 1,
        kappa: float = 0.5,
        kappa_high: float = 1.0,
        patience: int = 20,
        p_min: float = 0.2,
        high_cap: float = 0.5,
        min_high: int = 8,
        surrogate: str = "extra_trees",
        predictor: str = "random_forest",
        members: int = 16,
        refine: int = 4,
        climb: int = 1,
        climb_after: int = 1,
        budget: float | None = None,
        pool: int = 20_000,
        pool_seed: int | None = None,
        *,
        ladder: Ladder | None = None,
    ) -> None:
        super().__init__(space, seed, ladder=ladder)
        if low is None:
            self.low = self.ladder.low
        else:
            self.low = None if low in ("", "none") else Fidelity.parse(low)
        self.medium = self.fidelity_of("medium", medium, "medium")
        self.high = self.fidelity_of("high", high, "high")
        if (self.low and not self.low.is_proxy) or not self.medium < self.high:
            raise ConfigError("PMF needs low = proxies (or none) and medium cheaper than high")
        if (
            not 0 < keep <= 1
            or not 0 <= low_share < 1
            or not 0 < high_cap <= 1
            or not 0 < p_min < 0.5
        ):
            raise ConfigError(
                "PMF needs 0 < keep <= 1, 0 <= low_share < 1, 0 < high_cap <= 1, 0 < p_min < 0.5"
            )
        if (
            min(regions, batch, patience, region_min, climb, climb_after, refine + 1) < 1
            or min(members, min_high) < 2
        ):
            raise ConfigError(
                "PMF needs regions, batch, patience, region_min, climb, climb_after >= 1, "
                "refine >= 0 and members, min_high >= 2"
            )
        if radius < 0 or low_sample < 0 or pool < 2:
            raise ConfigError("PMF needs radius >= 0, low_sample >= 0 and pool >= 2")
        if pool_seed is not None:
            check_seed(pool_seed)
        if unknown := {surrogate, predictor} - set(KINDS):
            raise ConfigError(f"unknown model {unknown.pop()!r} (known: {', '.join(KINDS)})")
        if budget is not None and not budget > 0:
            raise ConfigError(f"PMF's budget must be positive, got {budget}")
        self.settings = {
            "low": str(self.low) if self.low else "none",
            "medium": str(self.medium),
            "high": str(self.high),
            "low_share": low_share,
            "low_sample": low_sample,
            "keep": keep,
            "regions": regions,
            "radius": radius,
            "region_min": region_min,
            "batch": batch,
            "kappa": kappa,
            "kappa_high": kappa_high,
            "patience": patience,
            "p_min": p_min,
            "high_cap": high_cap,
            "min_high": min_high,
            "surrogate": surrogate,
            "predictor": predictor,
            "members": members,
            "refine": refine,
            "climb": climb,
            "climb_after": climb_after,
            "budget": budget,
            "pool": pool,
            "pool_seed": pool_seed,
        }
        self._pool = Pool(space, pool, seed, pool_seed)
        self._rng = np.random.default_rng(seed)
        self._total: float | None = None
        self._spent = 0.0
        self._stage = "low"
        self._low_asked = 0
        self._low_spent = 0.0
        self._low_told = 0
        self._raw: dict[str, np.ndarray] = {}
        self._scored = np.zeros(0, dtype=bool)  # sized when stage 1 starts
        self._order = np.empty(0, dtype=np.int64)
        self._medium: dict[int, Trial] = {}
        self._high: dict[int, Trial] = {}
        self._rows = FeatureRows()
        self._search: RegionalSearch | None = None
        self.decisions: list[str] = []
        """Every allocation decision in order, promotions and stops alike (for the funnel)."""
        self._best_medium = -math.inf
        self._since = 0
        self._refine_from: int | None = None
        self._failed: set[int] = set()  # cells whose medium or high evaluation failed
        self._high_model: tuple[tuple[Any, ...], EnsemblePredictor] | None = None

    def params(self) -> dict[str, Any]:
        return dict(self.settings)

    # ---------------------------------------------------------------- ask / tell

    def ask(self, context: AskContext = SERIAL) -> Request | Wait | None:
        if self._total is None:
            self._total = self.settings["budget"] or context.budget_left
            if self._total is None:
                raise ConfigError("PMF plans against a budget: run it in a study or pass budget=")
        left = self._left(context)
        if self._stage == "low":
            request = self._low_request(left)
            if request is not None:
                return request
            if context.in_flight:
                return WAIT  # stage 2 ranks the space by every proxy score
            self._start_search()
        busy = {self._pool.number(arch) for arch in context.busy()} | self._failed
        request = self._search_request(left, busy)
        if request is None and context.in_flight:
            self.unaffordable, self.finished_because = None, ""
            return WAIT  # what is in flight may open new candidates or promotions
        return request

    def tell(self, trial: Trial) -> None:
        self._spent += trial.cost
        cell = self._pool.number(trial.arch)
        if trial.fidelity == self.low:
            values = [trial.metrics.get(name, np.nan) for name in self.low.proxies]
            for name, value in zip(self.low.proxies, values, strict=True):
                if name not in self._raw:
                    self._raw[name] = np.full(self._pool.size, np.nan)
                self._raw[name][cell] = value
            # NaN says nothing (not computed); ±inf is a failing proxy and ranks lowest.
            self._scored[cell] = not all(np.isnan(values))
            self._low_spent += trial.cost
            self._low_told += 1
        elif not trial.measured:
            self._failed.add(cell)  # neither picked nor promoted again
        elif trial.fidelity == self.medium:
            self._medium[cell] = trial
            self._rows.add(cell, medium_features(trial))
            if trial.val_acc > self._best_medium:
                self._best_medium, self._since = trial.val_acc, 0
            else:
                self._since += 1
        elif trial.fidelity == self.high:
            better = sum(t.val_acc >= trial.val_acc for t in self._high.values())
            self._high[cell] = trial
            start = self.settings["climb_after"]
            if len(self._high) == start:  # the climb starts from the best of the first ones
                self._refine_from = max(self._high, key=lambda c: self._high[c].val_acc)
            elif len(self._high) > start and better < self.settings["climb"]:
                self._refine_from = cell

    def _left(self, context: AskContext) -> float:
        if self.settings["budget"] is not None or context.budget_left is None:
            return float(self._total) - self._spent
        return context.budget_left

    # ---------------------------------------------------------------- stage 1

    def _low_request(self, left: float) -> Request | None:
        if self.low is None:
            return None
        limit = min(self.settings["low_sample"] or self._pool.size, self._pool.size)
        if self._low_asked >= limit:
            return None
        if self._low_told:
            per_cell = self._low_spent / self._low_told
            share = self.settings["low_share"] * float(self._total)
            if self._low_spent + per_cell > share or per_cell > left:
                return None
        if self._low_asked == 0:
            self._order = self._rng.permutation(self._pool.size)
            self._scored = np.zeros(self._pool.size, dtype=bool)
        cell = int(self._order[self._low_asked])
        self._low_asked += 1
        return Request(
            self._pool.arch(cell), self.low, "stage 1: global exploration", {"origin": "sampled"}
        )

    def _start_search(self) -> None:
        """Rank the pool by the low fidelity, find the regions and queue their centres."""
        self._stage = "search"
        encoding = self._pool.encoding
        if self._scored.any():
            fill = LowFill(low_scores(self._raw, self._scored), encoding, self.seed)
            low = fill.filled()
            narrow = np.flatnonzero(low >= np.quantile(low, 1 - self.settings["keep"]))
        else:  # no low fidelity: the regions start from random cells, nothing is narrowed
            fill = LowFill(self._rng.random(self._pool.size), encoding, self.seed)
            low = fill.score
            narrow = np.arange(self._pool.size)
        radius = self.settings["radius"]
        regions = find_regions(low, encoding, self.settings["regions"], radius)
        if self._pool.grows:  # regions of a sample of a vast space: only their centres
            low, regions = self._around_centres(regions, low, fill)
        self._search = RegionalSearch(
            self._pool, low, fill, narrow, regions, self._medium, self.settings, self.seed
        )
        self.decisions.append(
            f"stage 1 done: {int(self._scored.sum())} cells scored at {self.settings['low']} "
            f"({self._low_spent:.0f} s); {len(regions)} regions"
        )
        for region in regions:
            reason = (
                f"stage 2: centre of region {region.number} ({len(region.members)} cells, "
                f"low score {low[region.centre]:.3f})"
            )
            info = {
                "origin": "regional search",
                "region": region.number,
                "cells": len(region.members),
                "low_score": float(low[region.centre]),
            }
            self._search.queue.append(Pick(region.centre, reason, info))

    def _around_centres(
        self, regions: list[Region], low: np.ndarray, fill: LowFill
    ) -> tuple[np.ndarray, list[Region]]:
        """The cells one edge from each centre join the pool (their low scores predicted), so
        that each region is a neighbourhood to search, not a lone sample."""
        known = self._pool.size
        for region in regions:
            for arch in self.space.neighbours(self._pool.arch(region.centre)):
                self._pool.number(arch)
        encoding = self._pool.encoding
        low = np.concatenate([low, fill.predict(encoding[known:])])
        centres = [region.centre for region in regions]
        return low, regions_around(centres, encoding, self.settings["radius"])

    @property
    def regions(self) -> list[Region]:
        """The regions stage 1 found (empty before), with which are still open."""
        return self._search.regions if self._search else []

    # ---------------------------------------------------------------- stages 2 and 3

    def _search_request(self, left: float, busy: set[int]) -> Request | None:
        search = self._search
        assert search is not None, "stage 2 starts after stage 1"
        search.busy = busy
        if self._refine_from is not None:
            search.refine(self._refine_from, self._high)
            self._refine_from = None
        if not search.queue:
            search.fill(self._high)
        medium_cost = self._medium_cost() if search.queue else math.inf
        promotion = self._promotion(left, medium_cost, busy)
        if promotion is not None:
            self._since = 0
            arch = self._pool.arch(promotion.cell)
            return Request(arch, self.high, promotion.reason, promotion.info)
        if search.queue and medium_cost <= left:
            pick = search.queue.popleft()
            notes, search.notes = search.notes, []
            self.decisions.extend(notes)
            reason = "; ".join([pick.reason, *notes])
            info = pick.info | ({"decisions": notes} if notes else {})
            return Request(self._pool.arch(pick.cell), self.medium, reason, info)
        if search.queue:  # no promotion fits either: a medium training is the cheapest step
            self.unaffordable = Unaffordable(self.medium, medium_cost, left)
        else:
            self.finished_because = "no cell left worth a medium evaluation"
        return None

    def _medium_cost(self) -> float:
        """A cautious estimate of the next medium evaluation (0 before the first: unknown)."""
        costs = [t.cost for t in self._medium.values()]
        return float(np.quantile(costs, 0.9)) if costs else 0.0

    def _promotion(self, left: float, medium_cost: float, busy: set[int]) -> Promotion | None:
        """Ask the allocation rule about the medium-evaluated cells not yet promoted (nor in
        flight)."""
        cells = np.array(
            [c for c in self._medium if c not in self._high and c not in busy], dtype=np.int64
        )
        if len(cells) == 0:
            return None
        mu, sigma = self._predict_high(cells)
        ratio = cost_ratio(
            [(self._medium[c].cost, t.cost) for c, t in self._high.items() if c in self._medium],
            prior=_cost_prior(self.medium, self.high),
        )
        cost = np.array([self._medium[c].cost * ratio for c in cells])
        incumbent = max((t.val_acc for t in self._high.values()), default=None)
        patience = self.settings["patience"]
        promotion = plan_promotion(
            cells,
            mu,
            sigma,
            cost,
            incumbent=incumbent,
            left=left,
            medium_cost=medium_cost,
            stalled=self._since if self._since >= patience else None,
            spent=(
                sum(t.cost for t in self._medium.values()),
                sum(t.cost for t in self._high.values()),
            ),
            kappa=self.settings["kappa_high"],
            p_min=self.settings["p_min"],
            cap=self.settings["high_cap"] * float(self._total),
        )
        if promotion is not None:
            arch = self.space.format(self._pool.arch(promotion.cell))
            self.decisions.append(f"promote {arch}: {promotion.reason}")
        return promotion

    def _predict_high(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted high-fidelity accuracy with σ: the medium ranking until ``min_high``
        high-fidelity results exist, then trees on early-training features correct a linear
        map of it (see :func:`~pmfnas.predictors.high_fidelity_predictor`)."""
        search = self._search
        assert search is not None
        high = [c for c in self._high if c in self._medium]
        columns = evidence_columns(self._rows, [*high, *cells.tolist()])

        def features(keys: list[int]) -> np.ndarray:
            return np.hstack([self._rows.matrix(keys, columns), search.features[keys]])

        key = (tuple(high), tuple(columns))
        if self._high_model is None or self._high_model[0] != key:
            model = high_fidelity_predictor(
                self.settings["predictor"],
                self.settings["members"],
                min_points=self.settings["min_high"],
                prior_std=search.surrogate().noise,
                seed=self.seed + len(high),
            ).fit(features(high), [self._high[c].val_acc for c in high])
            self._high_model = (key, model)
        return self._high_model[1].predict(features(cells.tolist()))


def _cost_prior(medium: Fidelity, high: Fidelity) -> float:
    """High-to-medium cost from the training work (epochs × share of the data): a high
    fidelity that extends the medium one continues it and pays only its further epochs."""
    epochs = high.epochs - medium.epochs if high.extends(medium) else high.epochs
    return epochs * high.fraction / (medium.epochs * medium.fraction)
