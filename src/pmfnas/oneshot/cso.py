"""One generation of the Competitive Swarm Optimizer (Cheng and Jin, IEEE Trans. Cybernetics
45(2):191-204, 2015), on plain arrays.

The particles are paired at random; in each pair the fitter one (the winner) passes unchanged and
the other (the loser) learns from it and from the swarm's mean position:

    V_l <- R1 * V_l + R2 * (X_w - X_l) + phi * R3 * (mean(X) - X_l),    X_l <- X_l + V_l,

with R1, R2, R3 uniform in [0, 1] per dimension and the mean taken once per generation. Only the
losers move, so a generation needs m/2 new fitness evaluations. An odd particle out passes.
"""

from __future__ import annotations

import numpy as np


def compete(
    positions: np.ndarray,
    velocities: np.ndarray,
    fitness: np.ndarray,
    rng: np.random.Generator,
    phi: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New positions and velocities after one generation, and the indices of the particles that
    moved (whose fitness must be measured again). Ties go to the particle drawn first."""
    positions, velocities = positions.copy(), velocities.copy()
    order = rng.permutation(len(positions))
    pairs = order[: len(order) // 2 * 2].reshape(-1, 2)
    mean = positions.mean(axis=0)
    losers = []
    for a, b in pairs:
        winner, loser = (a, b) if fitness[a] >= fitness[b] else (b, a)
        r1, r2, r3 = (rng.random(positions.shape[1:]) for _ in range(3))
        velocities[loser] = (
            r1 * velocities[loser]
            + r2 * (positions[winner] - positions[loser])
            + phi * r3 * (mean - positions[loser])
        )
        positions[loser] = positions[loser] + velocities[loser]
        losers.append(loser)
    return positions, velocities, np.array(sorted(losers), dtype=np.int64)
