"""Settings of a one-shot search: the reference one of the published scripts, and one for a CPU.

``reference`` is XAutoDL's NAS-Bench-201 setting (C=16, N=5 supernet, full-size images, half of
the training images for w and half for α, each method's own epochs); it is meant for a GPU. ``cpu``
makes a search of minutes possible on two cores: a C=8, N=1 supernet on 16-pixel images, at most
4,000 images for w and 4,000 for α (a fifth of CIFAR-10's training set; all of a small dataset
such as the digits), 10 epochs for every method, cells measured on 512 validation images.
docs/results.md measures how its supernet ranks cells against larger settings. In the DARTS
space both follow DARTS' search setting instead (:func:`space_profile`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pmfnas.oneshot.recipe import OneShotRecipe
from pmfnas.registry import Registry


@dataclass(frozen=True)
class OneShotProfile:
    """The recipe; the share of the images, then at most ``images`` of them per half (0: no
    cap), and their size; the epochs (``None``: the method's)."""

    recipe: OneShotRecipe
    fraction: float = 1.0
    images: int = 0
    resolution: int = 0
    epochs: int | None = None


PROFILES: Registry[OneShotProfile] = Registry("one-shot profile")
PROFILES.register("reference")(OneShotProfile(OneShotRecipe()))
PROFILES.register("cpu")(
    OneShotProfile(
        OneShotRecipe(channels=8, cells_per_stage=1, eval_images=512),
        images=4000,
        resolution=16,
        epochs=10,
    )
)

SPACE_CHANGES: dict[str, dict[str, dict[str, object]]] = {
    "darts": {
        "reference": {"cells_per_stage": 2, "nesterov": False, "weight_decay": 3e-4},
        "cpu": {"cells_per_stage": 1, "nesterov": False, "weight_decay": 3e-4},
    }
}
"""How each profile's recipe differs in a space other than NB201: the DARTS search network
(8 cells at C=16: two normal cells per stage) under DARTS' own optimiser (SGD with plain
momentum 0.9, weight decay 3e-4; Liu et al. 2019); the CPU profile keeps its width, with one
normal cell per stage (5 cells)."""


def space_profile(space: str, name: str) -> OneShotProfile:
    """The profile ``name`` for a search in ``space`` (:data:`SPACE_CHANGES`)."""
    profile = PROFILES.get(name)
    changes = SPACE_CHANGES.get(space, {}).get(name, {})
    return replace(profile, recipe=replace(profile.recipe, **changes)) if changes else profile


SPLIT = "holdout:0.5"
"""Half of the training images train w, the other half α (DARTS' and XAutoDL's division)."""
