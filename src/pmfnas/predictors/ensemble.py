"""A bootstrapped tree ensemble whose spread, plus its out-of-bag error, is the uncertainty.

Search decisions need more than a point estimate: promote what is likely good *or* still
uncertain, stop what is confidently poor. Each member is fitted on a bootstrap sample, so the
members disagree where the data say little (epistemic spread), and the error on the points a
member did not see (out-of-bag) measures what no member can explain (noise). The predictive
standard deviation combines both, so ``mean ± 2σ`` is meant to hold about 95 % of true values.

With a ``base`` column (the medium-fidelity accuracy) the trees learn only the correction to a
linear map of that column; below ``min_points`` training rows they are not fitted at all and the
prediction is the base column shifted to the targets' level: the medium-fidelity ranking, which
is the right fallback while too few high-fidelity results exist.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pmfnas.errors import ConfigError

KINDS = ("extra_trees", "random_forest", "gbt")
"""Members: extremely randomised trees, CART trees (a random forest) or small boosted ensembles."""


class _Members:
    """The fitted members: their predictions, and which training rows each one saw."""

    def __init__(self, kind: str, members: int, max_features: float, seed: int) -> None:
        self.kind, self.members, self.max_features, self.seed = kind, members, max_features, seed
        self.models: list[Any] = []
        self.samples: list[np.ndarray] = []

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import (
            ExtraTreesRegressor,
            GradientBoostingRegressor,
            RandomForestRegressor,
        )

        if self.kind == "gbt":
            rng = np.random.default_rng(self.seed)
            for _ in range(self.members):
                rows = rng.integers(0, len(y), len(y))
                model = GradientBoostingRegressor(
                    n_estimators=40, max_depth=2, random_state=int(rng.integers(2**31))
                )
                self.models.append(model.fit(x[rows], y[rows]))
                self.samples.append(rows)
            return
        forest = ExtraTreesRegressor if self.kind == "extra_trees" else RandomForestRegressor
        fitted = forest(
            n_estimators=self.members,
            bootstrap=True,
            min_samples_leaf=2,
            max_features=self.max_features,
            random_state=self.seed,
            n_jobs=1,
        ).fit(x, y)
        self.models = list(fitted.estimators_)
        self.samples = list(fitted.estimators_samples_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """members × rows; trees are asked directly (the estimator's checks cost more than the
        prediction on the small matrices of a search)."""
        return np.stack([self.predict_one(m, x) for m in self.models])

    def predict_one(self, model: Any, x: np.ndarray) -> np.ndarray:
        if self.kind == "gbt":
            return model.predict(x)
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        return model.tree_.predict(x32).reshape(len(x), -1)[:, 0]


class EnsemblePredictor:
    """Bootstrapped ensemble regression with a mean and a standard deviation per prediction.

    Args:
        kind: the member model, one of :data:`KINDS`.
        members: bootstrap replicas (small: the fits run inside a search).
        base: column index of a linear baseline the members correct (``None``: no baseline).
        min_points: fewer training rows than this fit no members (baseline or mean only).
        prior_std: the uncertainty before any training row has been seen.
        max_features: share of columns each tree split considers.
        seed: seeds the bootstrap samples and the members.
    """

    def __init__(
        self,
        kind: str = "extra_trees",
        members: int = 24,
        *,
        base: int | None = None,
        min_points: int = 8,
        prior_std: float = 1.0,
        max_features: float = 0.5,
        seed: int = 0,
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown predictor kind {kind!r} (known: {', '.join(KINDS)})")
        if members < 2 or min_points < 2 or not prior_std > 0:
            raise ConfigError("the ensemble needs members >= 2, min_points >= 2, prior_std > 0")
        self.kind = kind
        self.members = members
        self.base = base
        self.min_points = min_points
        self.prior_std = prior_std
        self.max_features = max_features
        self.seed = seed
        self._members: _Members | None = None
        self._slope, self._offset = 1.0, 0.0
        self._noise = prior_std
        self._oob = np.empty(0)

    @property
    def n_members(self) -> int:
        """How many members the last fit trained (0: baseline or mean only)."""
        return len(self._members.models) if self._members else 0

    @property
    def noise(self) -> float:
        """The unexplained (out-of-bag or residual) standard deviation of the last fit."""
        return self._noise

    def _baseline(self, x: np.ndarray) -> np.ndarray:
        if self.base is None:
            return np.full(len(x), self._offset)
        return self._slope * x[:, self.base] + self._offset

    def _fit_baseline(self, x: np.ndarray, y: np.ndarray) -> None:
        """Least squares on the base column with enough rows; the level alone (slope 1) below."""
        if self.base is None:
            self._slope, self._offset = 0.0, float(y.mean())
            return
        col = x[:, self.base]
        slope = 1.0
        if len(y) >= self.min_points and col.std() > 1e-9:
            fitted = float(np.polyfit(col, y, 1)[0])
            slope = fitted if fitted > 0 else 1.0  # a falling map is noise in a handful of rows
        self._slope, self._offset = slope, float(np.mean(y - slope * col))

    def fit(self, x: np.ndarray, y: np.ndarray) -> EnsemblePredictor:
        """Fit on rows ``x`` (n × d, no NaN) and targets ``y``; a refit replaces the last one."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self._members = None
        self._oob = np.full(len(y), np.nan)
        if len(y) == 0:
            self._slope, self._offset, self._noise = 1.0, 0.0, self.prior_std
            return self
        self._fit_baseline(x, y)
        residual = y - self._baseline(x)
        if len(y) < self.min_points:
            spread = float(np.sqrt(np.mean(residual**2) * len(y) / max(len(y) - 1, 1)))
            self._noise = max(spread, 0.1 * self.prior_std) if len(y) > 1 else self.prior_std
            return self
        self._members = _Members(self.kind, self.members, self.max_features, self.seed)
        self._members.fit(x, residual)
        preds = self._members.predict(x)
        oob_sum = np.zeros(len(y))
        oob_count = np.zeros(len(y))
        for pred, rows in zip(preds, self._members.samples, strict=True):
            out = np.ones(len(y), dtype=bool)
            out[rows] = False
            oob_sum[out] += pred[out]
            oob_count[out] += 1
        seen = oob_count > 0
        self._oob = np.full(len(y), np.nan)
        self._oob[seen] = self._baseline(x[seen]) + oob_sum[seen] / oob_count[seen]
        errors = y[seen] - self._oob[seen]
        # Robust scale (normal-consistent MAD): a few broken cells (10 % accuracy) must not
        # inflate the noise of the many that train normally.
        self._noise = float(1.4826 * np.median(np.abs(errors))) if seen.any() else self.prior_std
        self._noise = max(self._noise, 1e-6)
        return self

    @property
    def oob(self) -> np.ndarray:
        """Each training row's prediction by the members that did not see it (NaN: none)."""
        return self._oob

    def sample(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of the fitted function: a member chosen at random (the mean without
        members). Picking the best row of a draw is Thompson sampling."""
        x = np.asarray(x, dtype=np.float64)
        if self._members is None:
            return self._baseline(x)
        member = self._members.models[int(rng.integers(len(self._members.models)))]
        return self._baseline(x) + self._members.predict_one(member, x)

    def predict(self, x: np.ndarray, *, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each row's target: the members' spread combined with
        the noise, or with ``noise=False`` the spread alone (what more data would remove)."""
        x = np.asarray(x, dtype=np.float64)
        mean = self._baseline(x)
        if self._members is None:  # no members, no spread: all the uncertainty is the noise
            return mean, np.full(len(x), self._noise)
        floor = self._noise if noise else 0.0
        preds = self._members.predict(x)
        return mean + preds.mean(axis=0), np.sqrt(preds.var(axis=0) + floor**2)


def high_fidelity_predictor(
    kind: str = "extra_trees",
    members: int = 16,
    *,
    min_points: int = 8,
    prior_std: float = 1.0,
    seed: int = 0,
) -> EnsemblePredictor:
    """The predictor of high-fidelity accuracy PMF uses: rows start with the medium accuracy
    (see :func:`~pmfnas.predictors.evidence_columns`), which is its linear base, so that below
    ``min_points`` high-fidelity results it ranks exactly as the medium fidelity does."""
    return EnsemblePredictor(
        kind, members, base=0, min_points=min_points, prior_std=prior_std, seed=seed
    )
