"""Predictors of high-fidelity accuracy from cheaper evidence, with an uncertainty per prediction."""

from pmfnas.predictors.ensemble import KINDS, EnsemblePredictor, high_fidelity_predictor
from pmfnas.predictors.features import (
    FeatureRows,
    curve_features,
    evidence_columns,
    medium_features,
    rank_scores,
)

__all__ = [
    "KINDS",
    "EnsemblePredictor",
    "FeatureRows",
    "curve_features",
    "evidence_columns",
    "high_fidelity_predictor",
    "medium_features",
    "rank_scores",
]
