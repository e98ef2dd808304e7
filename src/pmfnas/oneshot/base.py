"""The contract of a one-shot method and the record of each epoch it trains.

A one-shot method trains one supernet for all cells, so it does not fit ask/tell over single
evaluations: the driver (:func:`pmfnas.oneshot.search.search_oneshot`) owns the epoch loop, the
batches, checkpoints and records, and a method says only how a pair of batches updates w and α
(:meth:`OneShotMethod.step`), which cell the search holds now (:meth:`~OneShotMethod.derive`) and
which it returns (:meth:`~OneShotMethod.finish`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pmfnas.registry import Registry
from pmfnas.types import Arch

if TYPE_CHECKING:
    from pmfnas.oneshot.trainer import Batch, SupernetTrainer


@dataclass(frozen=True)
class EpochRecord:
    """What one supernet epoch ended with: its derived cell, measured on the supernet."""

    epoch: int
    arch: Arch
    metrics: dict[str, float]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


class OneShotMethod:
    """A one-shot method; subclasses register with :data:`ONESHOT` and override :meth:`step`.

    ``epochs`` is the method's supernet epochs in the reference profile. The default
    :meth:`derive` reads the strongest candidates off softmax(α) through the space's rule.
    """

    name: ClassVar[str]
    epochs: ClassVar[int]
    recipe_changes: ClassVar[dict[str, Any]] = {}
    """How the method's reference recipe differs from :class:`~pmfnas.oneshot.OneShotRecipe`."""

    def params(self) -> dict[str, Any]:
        """The method's own parameters, as ``ONESHOT.get(name)(**params())`` takes them."""
        return {}

    def begin_epoch(self, trainer: SupernetTrainer, epoch: int, epochs: int) -> None:
        """Before epoch ``epoch`` (0-based) of ``epochs``: where a method changes phase."""

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        """Learn from one train and one valid batch; ``progress`` is the epoch's place in the
        search, from 0 (first epoch) to 1 (last), for schedules such as GDAS' temperature."""
        raise NotImplementedError

    def end_epoch(self, trainer: SupernetTrainer, epoch: int, epochs: int) -> None:
        """After the epoch's batches, before its cell is derived (a swarm's generations)."""

    def derive(self, trainer: SupernetTrainer) -> Arch:
        """The cell the search holds now."""
        return trainer.space.derive(trainer.probabilities())

    def finish(self, trainer: SupernetTrainer) -> Arch:
        """The cell the search returns when its epochs are done."""
        return self.derive(trainer)

    def stop(self, history: list[EpochRecord]) -> str | None:
        """Why the search should end before its last epoch (``None``: go on)."""
        return None

    def info(self) -> dict[str, Any]:
        """What the epoch's record should say about the method's state (its phase...)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The method's own state beyond the trainer's (saved with every epoch's checkpoint)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


ONESHOT: Registry[type[OneShotMethod]] = Registry("one-shot method")
