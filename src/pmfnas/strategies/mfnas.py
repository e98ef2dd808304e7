"""MFNAS (Fu et al., PRICAI 2024): evolution driven only by zero-cost proxies, at proxy cost.

Population of ``population`` random feasible architectures. Each step draws ``sample_size``
members, takes the best two by fitness as parents, and asks for ``mutations`` one-edge mutations
of each parent and one uniform-crossover child of the two. Children that repeat a member (or each
other) or break the optional ``max_params`` / ``max_flops`` limits (counted by the evaluator,
:attr:`~pmfnas.evaluators.base.Ladder.network_size`) are dropped unevaluated. When
every child of the step is scored, the oldest member leaves and the population is cut back to its
best ``population`` members. With several workers a step's children are evaluated in parallel
and the strategy waits for all of them (and for the whole initial population) before it breeds.

Fitness (the multi-fidelity part): each proxy of ``proxies`` is divided by its largest absolute
value in the current population and the shares are summed. The sum variant of MFNAS's stable
proxy grows with network size and the mean variant does not, so their normalised sum corrects
the size bias of the sum alone. Returned architecture: the top ``final_top`` members by fitness,
then the best of those by the first proxy (``mfnas_sum``).

NB201 detail: MFNAS picks the node to edit with probability proportional to its number of incoming
edges, then one of those edges at random; in a cell where node k has k incoming edges that is a
uniformly random edge, which is what :meth:`NB201Space.mutate` draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.spaces.base import EnumerableSpace, SearchSpace
from pmfnas.strategies.base import (
    SERIAL,
    STRATEGIES,
    WAIT,
    AskContext,
    BaseStrategy,
    Wait,
    scale_free_sum,
)
from pmfnas.types import Arch, Fidelity, Request, Trial

MAX_DRAWS = 10_000
"""Random draws allowed to find one feasible architecture before the limits count as impossible."""


@STRATEGIES.register("mfnas")
class MFNAS(BaseStrategy):
    """MFNAS: evolution driven only by zero-cost proxies, at proxy cost.

    The rules are in the module docstring.

    Args:
        population: members kept.
        sample_size: members drawn to pick the two parents.
        mutations: one-edge mutations asked per parent and step.
        steps: evolution steps after the initial population (MFNAS's search length). Each asks
            at most 2 × mutations + 1 children.
        proxies: comma-separated proxies of the fitness; the first one breaks the final tie.
        final_top: members by fitness among which the first proxy picks the result.
        max_params: most parameters of a feasible architecture, in millions (0: no limit).
            Counted on the network the evaluator measures (on NB201 the full-size one for its
            dataset's input and classes); needs an evaluator that counts sizes.
        max_flops: most FLOPs of a feasible architecture, in millions (0: no limit), counted as
            max_params is.

    It needs no enumerable space; on one it refuses a population larger than the space.
    """

    name = "mfnas"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        population: int = 100,
        sample_size: int = 25,
        mutations: int = 4,
        steps: int = 100,
        proxies: str = "mfnas_sum,mfnas_mean",
        final_top: int = 3,
        max_params: float = 0.0,
        max_flops: float = 0.0,
        *,
        ladder: Ladder | None = None,
    ) -> None:
        super().__init__(space, seed, ladder=ladder)
        if not 2 <= sample_size <= population or mutations < 0 or steps < 0 or final_top < 1:
            raise ConfigError(
                "MFNAS needs 2 <= sample_size <= population, mutations >= 0, steps >= 0 and "
                f"final_top >= 1; got {sample_size}, {population}, {mutations}, {steps}, {final_top}"
            )
        if (max_params or max_flops) and self.ladder.network_size is None:
            raise ConfigError(
                "MFNAS's max_params / max_flops need an evaluator that counts its networks' sizes"
            )
        self.population_size = population
        self.sample_size = sample_size
        self.mutations = mutations
        self.steps = steps
        self.fidelity = Fidelity(proxies=tuple(proxies.split(",")))
        self.final_top = final_top
        self.max_params = max_params
        self.max_flops = max_flops
        self._rng = np.random.default_rng(seed)
        self._population: list[Trial] = []  # in order of arrival: the first is the oldest
        self._queue: list[Request] = []
        self._children: list[Trial] = []
        self._initial: set[Arch] = set()
        self._pending = 0  # children of the current step not yet told
        self._step = 0
        self._snapshots: list[tuple[int, list[Trial]]] = []  # (trials told, population) per step
        self._told = 0
        self._initial_asked = 0
        if isinstance(space, EnumerableSpace) and population > space.size:
            raise ConfigError(f"population {population} exceeds the {space.size} architectures")

    def feasible(self, arch: Arch) -> bool:
        """Within the size limits (every architecture is, without limits)."""
        if not (self.max_params or self.max_flops):
            return True
        assert self.ladder.network_size is not None  # checked when the limits were given
        params, flops = self.ladder.network_size(arch)
        return (not self.max_params or params <= self.max_params) and (
            not self.max_flops or flops <= self.max_flops
        )

    def _random_feasible(self) -> Arch:
        for _ in range(MAX_DRAWS):
            arch = self.space.sample(self._rng)
            if self.feasible(arch):
                return arch
        raise ConfigError(
            f"no feasible architecture found in {MAX_DRAWS} draws: max_params="
            f"{self.max_params:g} M / max_flops={self.max_flops:g} M are too tight"
        )

    def fitness(self, members: Sequence[Trial]) -> list[float]:
        """Sum over proxies of each member's score divided by the members' largest |score|."""
        return scale_free_sum(members, self.fidelity.proxies)

    def ask(self, context: AskContext = SERIAL) -> Request | Wait | None:
        if self._initial_asked < self.population_size:
            self._initial_asked += 1
            while (arch := self._random_feasible()) in self._initial:
                pass
            self._initial.add(arch)
            return Request(arch, self.fidelity, "initial population", {"origin": "sampled"})
        if self._step == 0 and self._told < self.population_size:
            return WAIT  # the initial population is still being evaluated
        while not self._queue and self._pending == 0:
            if self._step >= self.steps or len(self._population) < 2:
                self.finished_because = (
                    f"all {self.steps} evolution steps done"
                    if self._step >= self.steps
                    else "fewer than 2 members left to breed from"
                )
                return None
            self._breed()
        if not self._queue:
            return WAIT  # children of this step are still being evaluated
        return self._queue.pop(0)

    def _breed(self) -> None:
        """Queue the children of the next step (possibly none, after duplicates are dropped)."""
        self._step += 1
        picks = self._rng.choice(
            len(self._population), size=min(self.sample_size, len(self._population)), replace=False
        )
        fit = self.fitness(self._population)
        order = sorted(picks, key=lambda i: fit[i], reverse=True)
        a, b = self._population[order[0]], self._population[order[1]]
        candidates = [
            (
                self.space.mutate(parent.arch, self._rng),
                f"mutation of trial {parent.number}",
                {"origin": "mutation", "parents": [parent.number]},
            )
            for parent in (a, b)
            for _ in range(self.mutations)
        ]
        crossed = self.space.crossover(a.arch, b.arch, self._rng)
        candidates.append(
            (
                crossed,
                f"crossover of trials {a.number} and {b.number}",
                {"origin": "crossover", "parents": [a.number, b.number]},
            )
        )
        taken = {t.arch for t in self._population}
        for arch, why, info in candidates:
            if arch in taken or not self.feasible(arch):
                continue
            taken.add(arch)
            reason = f"step {self._step}: {why}"
            self._queue.append(Request(arch, self.fidelity, reason, info | {"step": self._step}))
        self._pending = len(self._queue)
        if self._pending == 0:
            self._end_step([])

    def tell(self, trial: Trial) -> None:
        self._told += 1
        if self._step == 0:  # no step bred yet: the trial is one of the initial population
            if trial.measured:  # a failed evaluation joins nothing
                self._population.append(trial)
            if self._told == self.population_size:
                self._snapshots.append((self._told, list(self._population)))
            return
        if trial.measured:
            self._children.append(trial)
        self._pending -= 1
        if self._pending == 0:
            self._end_step(self._children)

    def _end_step(self, children: list[Trial]) -> None:
        members = self._population[1:] + children  # the oldest leaves
        if len(members) > self.population_size:
            fit = self.fitness(members)
            keep = sorted(range(len(members)), key=lambda i: fit[i], reverse=True)
            kept = set(keep[: self.population_size])
            members = [m for i, m in enumerate(members) if i in kept]  # arrival order stays
        self._population = members
        self._children = []
        self._snapshots.append((self._told, list(members)))

    def best(self, trials: Sequence[Trial]) -> Trial | None:
        """MFNAS's pick from the population as it stood after ``trials`` (a prefix of the run)."""
        members = [t for t in trials if set(self.fidelity.proxies) <= set(t.metrics)]
        for told, population in reversed(self._snapshots):
            if told <= len(trials):
                members = population
                break
        if not members:
            return None
        fit = self.fitness(members)
        top = sorted(range(len(members)), key=lambda i: fit[i], reverse=True)[: self.final_top]
        first = self.fidelity.proxies[0]
        return max((members[i] for i in top), key=lambda t: t.metrics[first])

    def params(self) -> dict[str, Any]:
        return {
            "population": self.population_size,
            "sample_size": self.sample_size,
            "mutations": self.mutations,
            "steps": self.steps,
            "proxies": ",".join(self.fidelity.proxies),
            "final_top": self.final_top,
            "max_params": self.max_params,
            "max_flops": self.max_flops,
        }
