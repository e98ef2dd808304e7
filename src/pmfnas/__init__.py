"""pmfnas: progressive multi-fidelity neural architecture search under a resource budget.

The names below are imported on first use (PEP 562), so that importing one module of the
package (as a worker process loading its evaluator does) does not import them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmfnas.ask_tell import AskTellStudy, UserTrial
    from pmfnas.errors import PmfnasError
    from pmfnas.evaluators.base import Ladder
    from pmfnas.parallel import ParallelStudy
    from pmfnas.spaces import NB201Space
    from pmfnas.storage import Storage
    from pmfnas.strategies import STRATEGIES, BaseStrategy, create_strategy
    from pmfnas.study import Study, StudyResult
    from pmfnas.types import Budget, Fidelity, Request, Result, Trial, TrialState

__version__ = "0.1.0"

_HOMES = {
    "AskTellStudy": "pmfnas.ask_tell",
    "UserTrial": "pmfnas.ask_tell",
    "PmfnasError": "pmfnas.errors",
    "Ladder": "pmfnas.evaluators.base",
    "ParallelStudy": "pmfnas.parallel",
    "NB201Space": "pmfnas.spaces",
    "Storage": "pmfnas.storage",
    "STRATEGIES": "pmfnas.strategies",
    "BaseStrategy": "pmfnas.strategies",
    "create_strategy": "pmfnas.strategies",
    "Study": "pmfnas.study",
    "StudyResult": "pmfnas.study",
    "Budget": "pmfnas.types",
    "Fidelity": "pmfnas.types",
    "Request": "pmfnas.types",
    "Result": "pmfnas.types",
    "Trial": "pmfnas.types",
    "TrialState": "pmfnas.types",
}
"""Each public name and the module it lives in."""

__all__ = [
    "STRATEGIES",
    "AskTellStudy",
    "BaseStrategy",
    "Budget",
    "Fidelity",
    "Ladder",
    "NB201Space",
    "ParallelStudy",
    "PmfnasError",
    "Request",
    "Result",
    "Storage",
    "Study",
    "StudyResult",
    "Trial",
    "TrialState",
    "UserTrial",
    "__version__",
    "create_strategy",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pmfnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
