"""A proxy scorer for the proxy-table tests, in a module of its own rather than a fixture: the
table's worker processes (started by spawning) and a child process the tests kill both import it
by name."""

from __future__ import annotations

from collections.abc import Callable

from pmfnas.spaces.nb201 import NB201Space


def toy_score_fn() -> Callable[[int], dict[str, tuple[float, float]]]:
    """Scores of NATS index → (score, seconds): 'size' = sum of op ids, 'conv' = number of 3×3
    convs."""
    space = NB201Space()

    def score(index: int) -> dict[str, tuple[float, float]]:
        cell = space.arch(index)
        return {"size": (float(sum(cell)), 0.01), "conv": (float(cell.count(3)), 0.02)}

    return score
