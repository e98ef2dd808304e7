"""One-shot (weight-sharing) search: one supernet trained for all cells, α read back as a cell.

:func:`search_oneshot` runs any registered method (:data:`ONESHOT`) on a space that has a
supernet (:class:`~pmfnas.spaces.oneshot.OneShotSpace`).
"""

from pmfnas.oneshot import darts, drnas, gdas, gicso, rsps  # noqa: F401  (register the methods)
from pmfnas.oneshot.base import ONESHOT, EpochRecord, OneShotMethod
from pmfnas.oneshot.recipe import OneShotRecipe
from pmfnas.oneshot.search import OneShotResult, search_oneshot

__all__ = [
    "ONESHOT",
    "EpochRecord",
    "OneShotMethod",
    "OneShotRecipe",
    "OneShotResult",
    "search_oneshot",
]
