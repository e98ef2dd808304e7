"""G-ICSO-NAS (Du, Zhang, Zhong, Cao and Munetomo, arXiv 2604.00703, 2026): gradient and swarm
in turn. Only the paper's abstract is public; these rules are our reading of it, each with its
reason (docs/oneshot.md has the ablations).

1. **Warm-up** (the first ``warmup`` share of the epochs): w trains under the uniform mixture, α
   frozen, so that every operation's weights are trained before any is judged.
2. **Exploration** (the next ``explore`` share): a swarm of ``particles`` α's, started around the
   uniform α (standard normal logits), evolves by the Competitive Swarm Optimizer
   (:mod:`pmfnas.oneshot.cso`), ``generations`` generations after each epoch. Meanwhile SGD keeps
   training w, each batch on one path sampled from the softmax of a particle drawn at random, so
   that every particle's region of the supernet is trained, not only the best one's, and w is
   trained the way particles are judged: on single paths (``train="mixture"``, each batch under
   the particle's whole mixture, is the ablation).

   A particle's fitness is the supernet's validation accuracy of its *derived cell* (the argmax
   path), on the same ``eval_images`` validation images for every particle: the swarm ranks the
   cells it would return, so the discretisation gap of a mixture (a skip-heavy mixture that
   scores well while its discrete cell does not: DARTS' collapse) cannot mislead it.
   ``fitness="mixture"`` ranks the softmax mixtures instead (the ablation).

   *Diversity-aware*: fitness adds ``diversity`` accuracy points times the particle's distance
   from the swarm's mean (half the L1 distance between softmax distributions, averaged over the
   choice points: 0 at the mean, 1 at the most distant), so that of two equally accurate
   particles the one that keeps the swarm spread wins, and the swarm does not shrink onto one
   cell before the supernet can tell cells apart. ``diversity=0`` is the ablation.

   *Debiased*: a short supernet training scores a cell higher the more of its edges are
   parameter-free (measured in both spaces: docs/results.md), whatever the cell's true worth.
   After each epoch's measurements the swarm fits the accuracies it measured against their
   cells' parameter-free share (least squares over the epoch's measurements) and takes the
   slope's advantage out of every fitness: accuracy − slope × share, where a slope that does
   not favour such cells takes nothing. The ranking then compares cells as if they held equally
   many weightless edges (``debias=False`` is the ablation).

   *Robust*: a particle whose derived cell is collapse-prone (more of its choice points
   parameter-free than a random cell has, or than the share ``collapse`` if given) ranks below
   every other particle (a feasibility rule, as in constrained evolutionary search), since a
   short supernet training favours cells without weights, which learn nothing and so cannot be
   under-trained. A random cell's share is the space's own measure of "more than usual": in NB201
   (3 of 5 operations parameter-free) a cell of 4 or more such edges of 6 is prone, in the DARTS
   space (3 of 7) a normal cell of 4 or more of 8. ``collapse=1`` is the ablation.
3. **Stability**: α starts from the best particle and DARTS' first-order gradient search refines
   it, alternating with w. It stops early once the derived cell has not changed for ``patience``
   epochs. *Shifting gears*: if the derived cell turns collapse-prone, the search goes back to
   the swarm, seeded around the current α, for another exploration of the same length (at most
   ``shifts`` times); once no shift is left, it keeps returning the last cell that was not.

The returned cell is the argmax of α in the stability phase (the best particle's cell while the
swarm runs), never a collapse-prone one when a sound one was found.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from pmfnas.errors import ConfigError
from pmfnas.oneshot.base import ONESHOT, EpochRecord, OneShotMethod
from pmfnas.oneshot.cso import compete
from pmfnas.oneshot.trainer import Batch, SupernetTrainer
from pmfnas.spaces.oneshot import parameter_free_share, random_parameter_free_share
from pmfnas.types import Arch

RUNS = ("path", "mixture")
"""How the supernet runs a particle (to judge it or to train w): the path of its derived cell
(a path sampled from its softmax, to train) or its whole softmax mixture."""


@ONESHOT.register("gicso")
class GIcso(OneShotMethod):
    """G-ICSO-NAS: warm-up, exploration of α by a competitive swarm, gradient stability.

    Args:
        warmup: share of the epochs that train w under the uniform mixture, α frozen.
        explore: share of the epochs the swarm explores (again after each gear shift).
        particles: α's in the swarm.
        generations: CSO generations after each exploration epoch.
        phi: weight of the pull towards the swarm's mean in the CSO update.
        diversity: accuracy points a particle gains at the largest distance from the mean.
        fitness: what ranks particles: path (their derived cell) or mixture (their softmax).
        train: how w trains while the swarm explores: each batch on a path sampled from a
            random particle's softmax, or under that particle's whole mixture.
        patience: stability epochs with an unchanged cell after which the search stops.
        collapse: share of parameter-free edges above which a cell is collapse-prone: its
            particle ranks last, and stability goes back to the swarm (1: never; ``None``: the
            share of a random cell of the space).
        shifts: how many times the search may go back to the swarm.
        debias: take the supernet's advantage of parameter-free edges out of the fitness.
    """

    name: ClassVar[str] = "gicso"
    epochs: ClassVar[int] = 50

    def __init__(
        self,
        warmup: float = 0.25,
        explore: float = 0.35,
        particles: int = 10,
        generations: int = 4,
        phi: float = 0.1,
        diversity: float = 2.0,
        fitness: str = "path",
        train: str = "path",
        patience: int = 3,
        collapse: float | None = None,
        shifts: int = 1,
        debias: bool = True,
    ) -> None:
        if not (0 <= warmup < 1 and 0 < explore <= 1 - warmup):
            raise ConfigError("gicso needs 0 <= warmup < 1 and 0 < explore <= 1 - warmup")
        if particles < 2 or generations < 1 or patience < 1 or shifts < 0:
            raise ConfigError("gicso needs particles >= 2, generations >= 1, patience >= 1")
        for knob, value in (("fitness", fitness), ("train", train)):
            if value not in RUNS:
                raise ConfigError(f"gicso {knob} must be one of {', '.join(RUNS)}, got {value!r}")
        if phi < 0 or diversity < 0 or not (collapse is None or 0 < collapse <= 1):
            raise ConfigError("gicso needs phi >= 0, diversity >= 0 and 0 < collapse <= 1")
        self.warmup, self.explore, self.particles = warmup, explore, particles
        self.generations, self.phi, self.diversity = generations, phi, diversity
        self.fitness, self.train, self.patience = fitness, train, patience
        self.collapse, self.shifts, self.debias = collapse, shifts, debias
        self._threshold: float | None = collapse
        self.phase = self.running = "warmup"
        self.explore_left = 0
        self.shifts_left = shifts
        self.positions = self.velocities = self.scores = np.zeros(0)
        self.returned: Arch = ()

    def params(self) -> dict[str, Any]:
        return {
            "warmup": self.warmup,
            "explore": self.explore,
            "particles": self.particles,
            "generations": self.generations,
            "phi": self.phi,
            "diversity": self.diversity,
            "fitness": self.fitness,
            "train": self.train,
            "patience": self.patience,
            "collapse": self.collapse,
            "shifts": self.shifts,
            "debias": self.debias,
        }

    # ----- phases
    def begin_epoch(self, trainer: SupernetTrainer, epoch: int, epochs: int) -> None:
        if self.phase == "warmup" and epoch >= math.floor(self.warmup * epochs):
            self._start_swarm(trainer, epoch, epochs, around=np.zeros(tuple(trainer.alpha.shape)))
        self.running = self.phase

    def _start_swarm(
        self, trainer: SupernetTrainer, epoch: int, epochs: int, around: np.ndarray
    ) -> None:
        rng = np.random.default_rng([trainer.seed, epoch])
        self.positions = around + rng.standard_normal((self.particles, *around.shape))
        self.velocities = np.zeros_like(self.positions)
        self.scores = np.full(self.particles, -np.inf)
        self.phase = "explore"
        self.explore_left = max(1, round(self.explore * epochs))

    def step(self, trainer: SupernetTrainer, train: Batch, valid: Batch, progress: float) -> None:
        if self.phase == "warmup":
            trainer.weight_step(train, weights=torch.zeros_like(trainer.alpha).softmax(dim=1))
        elif self.phase == "explore":
            mixture = self._mixture(trainer, int(torch.randint(self.particles, ())))
            if self.train == "path":
                path = torch.multinomial(mixture.cpu(), 1).flatten().tolist()
                trainer.weight_step(train, path=path)
            else:
                trainer.weight_step(train, weights=mixture)
        else:
            trainer.alpha_step(trainer.loss(valid, weights=trainer.alpha.softmax(dim=1)))
            trainer.weight_step(train, weights=trainer.alpha.softmax(dim=1))

    def end_epoch(self, trainer: SupernetTrainer, epoch: int, epochs: int) -> None:
        if self.phase == "explore":
            self._evolve(trainer, epoch)
            self.explore_left -= 1
            if self.explore_left == 0:
                self._start_stability(trainer)
        elif self.phase == "stability":
            cell = trainer.space.derive(trainer.probabilities())
            if not self._prone(trainer, cell):
                self.returned = cell
            elif self.shifts_left > 0:
                self.shifts_left -= 1
                around = trainer.alpha.detach().cpu().double().numpy()
                self._start_swarm(trainer, epoch, epochs, around)

    def _start_stability(self, trainer: SupernetTrainer) -> None:
        best = self.positions[int(np.argmax(self.scores))]
        with torch.no_grad():
            trainer.alpha.copy_(torch.as_tensor(best, dtype=trainer.alpha.dtype))
        trainer.alpha_optimizer.state.clear()  # Adam's moments belong to the α before
        self.returned = trainer.space.derive(_softmax(best))
        self.phase = "stability"

    def _prone(self, trainer: SupernetTrainer, cell: Arch) -> bool:
        """Whether more of ``cell``'s choice points are parameter-free than ``collapse`` (by
        default, than a random cell's)."""
        if self._threshold is None:
            self._threshold = random_parameter_free_share(trainer.space)
        return parameter_free_share(trainer.space, cell) > self._threshold + 1e-9

    # ----- the swarm
    def _evolve(self, trainer: SupernetTrainer, epoch: int) -> None:
        """Measure every particle on the epoch's weights, then run the generations; every
        measurement of the epoch, with its cell's parameter-free share, informs the debiasing."""
        accuracy = np.array([self._accuracy(trainer, i) for i in range(self.particles)])
        seen = [(self._share(trainer, i), accuracy[i]) for i in range(self.particles)]
        for generation in range(self.generations):
            rng = np.random.default_rng([trainer.seed, epoch, generation])
            fitness = self._fitness(trainer, accuracy, seen)
            self.positions, self.velocities, moved = compete(
                self.positions, self.velocities, fitness, rng, self.phi
            )
            for i in moved:
                accuracy[i] = self._accuracy(trainer, int(i))
                seen.append((self._share(trainer, int(i)), accuracy[i]))
        self.scores = self._fitness(trainer, accuracy, seen)

    def _fitness(
        self, trainer: SupernetTrainer, accuracy: np.ndarray, seen: list[tuple[float, float]]
    ) -> np.ndarray:
        """Accuracy less the epoch's advantage of weightless edges, plus the diversity bonus; a
        collapse-prone particle ranks below every other."""
        cells = [trainer.space.derive(p) for p in _softmax(self.positions)]
        prone = np.array([self._prone(trainer, cell) for cell in cells])
        shares = np.array([parameter_free_share(trainer.space, cell) for cell in cells])
        return (
            accuracy
            - self._bias(seen) * shares
            + self.diversity * spread(self.positions)
            - prone * (100 + self.diversity)
        )

    def _bias(self, seen: list[tuple[float, float]]) -> float:
        """Accuracy points the supernet gives a cell per unit of parameter-free share: the
        least-squares slope over the epoch's measurements, 0 if it does not favour them (or
        without ``debias``)."""
        if not self.debias or len(seen) < 3:
            return 0.0
        shares, accuracies = np.array(seen).T
        if shares.std() <= 1e-9:
            return 0.0
        return max(0.0, float(np.polyfit(shares, accuracies, 1)[0]))

    def _share(self, trainer: SupernetTrainer, particle: int) -> float:
        cell = trainer.space.derive(_softmax(self.positions[particle]))
        return parameter_free_share(trainer.space, cell)

    def _accuracy(self, trainer: SupernetTrainer, particle: int) -> float:
        if self.fitness == "path":
            cell = trainer.space.derive(_softmax(self.positions[particle]))
            return trainer.measure(path=trainer.space.path(cell))["val_acc"]
        return trainer.measure(weights=self._mixture(trainer, particle))["val_acc"]

    def _mixture(self, trainer: SupernetTrainer, particle: int) -> torch.Tensor:
        logits = torch.as_tensor(self.positions[particle], dtype=trainer.alpha.dtype)
        return logits.to(trainer.alpha.device).softmax(dim=1)

    # ----- what the driver reads
    def derive(self, trainer: SupernetTrainer) -> Arch:
        if self.phase == "explore" and np.isfinite(self.scores).any():
            return trainer.space.derive(_softmax(self.positions[int(np.argmax(self.scores))]))
        cell = trainer.space.derive(trainer.probabilities())
        if self.phase == "stability" and self._prone(trainer, cell) and self.returned:
            return self.returned
        return cell

    def stop(self, history: list[EpochRecord]) -> str | None:
        last = history[-(self.patience + 1) :]
        if (
            len(last) == self.patience + 1
            and all(row.info.get("phase") == "stability" for row in last)
            and len({row.arch for row in last}) == 1
        ):
            return f"derived cell unchanged for {self.patience} stability epochs"
        return None

    def info(self) -> dict[str, Any]:
        return {"phase": self.running}

    def state_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "explore_left": self.explore_left,
            "shifts_left": self.shifts_left,
            "positions": torch.as_tensor(self.positions),
            "velocities": torch.as_tensor(self.velocities),
            "scores": torch.as_tensor(self.scores),
            "returned": list(self.returned),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.phase = state["phase"]
        self.explore_left, self.shifts_left = state["explore_left"], state["shifts_left"]
        self.positions = state["positions"].numpy()
        self.velocities = state["velocities"].numpy()
        self.scores = state["scores"].numpy()
        self.returned = tuple(state["returned"])


def spread(positions: np.ndarray) -> np.ndarray:
    """Each particle's distance from the swarm's mean distribution, in [0, 1]: half the L1
    distance between softmax distributions, averaged over the choice points."""
    p = _softmax(positions)
    return 0.5 * np.abs(p - p.mean(axis=0)).sum(axis=2).mean(axis=1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
