"""Training NB201 networks for real: the recipe, the epoch loop and crash-safe checkpoints."""

from pmfnas.training.loop import EpochProgress, FitResult, TrainingWatcher, evaluate, fit
from pmfnas.training.recipe import TrainingRecipe

__all__ = ["EpochProgress", "FitResult", "TrainingRecipe", "TrainingWatcher", "evaluate", "fit"]
