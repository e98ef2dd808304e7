"""pmfnas: progressive multi-fidelity neural architecture search under a resource budget."""

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
