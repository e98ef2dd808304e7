"""Training NB201 networks for real: the recipe, the epoch loop and crash-safe checkpoints."""

from pmfnas.training.loop import FitResult, evaluate, fit
from pmfnas.training.recipe import TrainingRecipe

__all__ = ["FitResult", "TrainingRecipe", "evaluate", "fit"]
