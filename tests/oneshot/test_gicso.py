"""G-ICSO's phases, its diversity-aware fitness, gear shifting and early stopping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.data.digits import read_digits
from pmfnas.data.splits import apply_split
from pmfnas.errors import ConfigError
from pmfnas.oneshot import EpochRecord, OneShotRecipe, search_oneshot
from pmfnas.oneshot.gicso import GIcso, spread
from pmfnas.oneshot.trainer import SupernetTrainer
from pmfnas.spaces import create_space
from pmfnas.training.loop import Device

SPACE = create_space("nb201")
RECIPE = OneShotRecipe(channels=4, cells_per_stage=1, batch_size=64, eval_images=128)
SMALL_SWARM = dict(particles=4, generations=2)


@pytest.fixture(scope="module")
def data():
    return apply_split(read_digits(), "holdout:0.5")


def test_the_phases_follow_their_shares_of_the_epochs(data) -> None:
    method = GIcso(warmup=0.25, explore=0.375, patience=10, shifts=0, **SMALL_SWARM)
    result = search_oneshot(method, SPACE, data, RECIPE, epochs=8)
    phases = [row.info["phase"] for row in result.history]
    assert phases == ["warmup"] * 2 + ["explore"] * 3 + ["stability"] * 3


def test_warm_up_freezes_alpha_and_trains_w(data) -> None:
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=4, seed=0, run=Device.of("cpu"))
    alpha = trainer.alpha.detach().clone()
    before = [p.detach().clone() for p in trainer.net.parameters()]
    method = GIcso(**SMALL_SWARM)
    method.begin_epoch(trainer, 0, 4)
    for train, valid in trainer.batches(0):
        method.step(trainer, train, valid, 0.0)
    assert torch.equal(alpha, trainer.alpha.detach())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.net.parameters(), strict=True))


def test_stability_starts_from_the_best_particle(data) -> None:
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=2, seed=0, run=Device.of("cpu"))
    method = GIcso(warmup=0.0, explore=0.5, **SMALL_SWARM)
    method.begin_epoch(trainer, 0, 2)
    method.end_epoch(trainer, 0, 2)  # the exploration's one epoch ends: its swarm is scored
    assert method.phase == "stability"
    best = method.positions[int(np.argmax(method.scores))]
    np.testing.assert_allclose(trainer.alpha.detach().numpy(), best, rtol=1e-6)


def test_the_diversity_term_rewards_distance_from_the_swarm_mean() -> None:
    positions = np.zeros((4, 6, 5))
    np.testing.assert_array_equal(spread(positions), 0.0)
    positions[0, :, 0] = 50.0  # one particle certain of op 0, the rest uniform
    distances = spread(positions)
    assert distances[0] == distances.max() and 0 < distances[0] <= 1


def test_among_equally_accurate_particles_the_most_distant_never_loses(data) -> None:
    """With equal accuracy the diversity term decides every pair; without it, ties do."""
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=1, seed=0, run=Device.of("cpu"))

    def evolved(diversity: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        method = GIcso(particles=6, generations=1, diversity=diversity, collapse=1.0)
        method.positions = np.random.default_rng(seed).standard_normal((6, 6, 5))
        method.velocities = np.zeros_like(method.positions)
        method._accuracy = lambda trainer, particle: 50.0  # type: ignore[method-assign]
        start = method.positions.copy()
        method._evolve(trainer, epoch=seed)
        return start, method.positions

    moved_without = []
    for seed in range(10):
        start, after = evolved(1.0, seed)
        far = int(np.argmax(spread(start)))
        np.testing.assert_array_equal(after[far], start[far])
        start, after = evolved(0.0, seed)
        moved_without.append(not np.array_equal(after[far], start[far]))
    assert any(moved_without)


def test_a_collapsing_cell_shifts_the_search_back_to_the_swarm(data) -> None:
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=4, seed=0, run=Device.of("cpu"))
    for shifts, phase in ((1, "explore"), (0, "stability")):
        method = GIcso(shifts=shifts, **SMALL_SWARM)
        method.phase = "stability"
        with torch.no_grad():
            trainer.alpha.zero_()
            trainer.alpha[:, 1] = 5.0  # all skip_connect: every edge parameter-free
        method.end_epoch(trainer, 2, 4)
        assert method.phase == phase


def test_a_collapse_prone_particle_ranks_below_every_other(data) -> None:
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=1, seed=0, run=Device.of("cpu"))
    method = GIcso(particles=3, diversity=2.0)
    method.positions = np.zeros((3, 6, 5))
    method.positions[0, :, 1] = 5.0  # all skip_connect
    method.positions[1, :, 3] = 5.0  # all nor_conv_3x3
    method.positions[2, :3, 1] = method.positions[2, 3:, 3] = 5.0  # half skip: not prone
    scores = method._fitness(trainer, np.array([99.0, 10.0, 10.0]), seen=[])
    assert scores[0] < min(scores[1:]) and scores[0] < 0
    assert GIcso(collapse=1.0)._prone(trainer, (1,) * 6) is False


def test_the_supernets_advantage_of_parameter_free_edges_is_taken_out_of_the_fitness(data):
    """Measured accuracies that rise with the share of weightless edges (9 points per unit of
    share) lose exactly that slope; a slope against such cells, or ``debias=False``, leaves
    the accuracies as they are."""
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=1, seed=0, run=Device.of("cpu"))
    positions = np.zeros((3, 6, 5))
    positions[0, :, 3] = 5.0  # all nor_conv_3x3: share 0
    positions[1, :2, 1] = positions[1, 2:, 3] = 5.0  # two skip connections: share 1/3
    positions[2, :3, 1] = positions[2, 3:, 3] = 5.0  # three: share 1/2
    accuracy = np.array([30.0, 33.0, 34.5])  # 30 + 9 x share
    seen = [(0.0, 30.0), (1 / 3, 33.0), (0.5, 34.5)]
    for debias, slope in ((True, 9.0), (False, 0.0)):
        method = GIcso(particles=3, diversity=0.0, debias=debias)
        method.positions = positions
        np.testing.assert_allclose(
            method._fitness(trainer, accuracy, seen), accuracy - slope * np.array([0, 1 / 3, 0.5])
        )
    falling = [(share, 40.0 - 9 * share) for share, _ in seen]
    method = GIcso(particles=3, diversity=0.0)
    method.positions = positions
    np.testing.assert_allclose(method._fitness(trainer, accuracy, falling), accuracy)


def test_the_swarm_debiases_by_every_measurement_of_the_epoch(data, monkeypatch) -> None:
    """The initial measurements and every moved particle's measurement enter the slope."""
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=1, seed=0, run=Device.of("cpu"))
    method = GIcso(particles=4, generations=2)
    method.positions = np.random.default_rng(0).standard_normal((4, 6, 5))
    method.velocities = np.zeros_like(method.positions)
    method._accuracy = lambda trainer, particle: 20.0 + particle  # type: ignore[method-assign]
    sizes = []
    monkeypatch.setattr(method, "_bias", lambda seen: sizes.append(len(seen)) or 0.0)
    method._evolve(trainer, epoch=0)
    assert sizes == [4, 6, 8]  # 4 particles, then 2 losers measured per generation


def test_stability_never_returns_a_collapse_prone_cell(data) -> None:
    """Without a gear shift left, the search keeps the last cell that was not collapse-prone."""
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=4, seed=0, run=Device.of("cpu"))
    method = GIcso(shifts=0, **SMALL_SWARM)
    method.phase = "stability"
    with torch.no_grad():
        trainer.alpha.zero_()
        trainer.alpha[:, 3] = 5.0  # all nor_conv_3x3
    method.end_epoch(trainer, 1, 4)
    with torch.no_grad():
        trainer.alpha[:, 1] = 9.0  # now all skip_connect
    method.end_epoch(trainer, 2, 4)
    assert method.derive(trainer) == (3,) * 6


def test_exploration_trains_single_paths_unless_told_mixture(data, monkeypatch) -> None:
    trainer = SupernetTrainer(SPACE, data, RECIPE, epochs=2, seed=0, run=Device.of("cpu"))
    for train in ("path", "mixture"):
        method = GIcso(warmup=0.0, train=train, **SMALL_SWARM)
        method.begin_epoch(trainer, 0, 2)
        calls: list[dict] = []
        monkeypatch.setattr(
            trainer, "weight_step", lambda batch, calls=calls, **kw: calls.append(kw)
        )
        method.step(trainer, *next(iter(trainer.batches(0))), 0.0)
        monkeypatch.undo()
        (kwargs,) = calls
        if train == "path":
            assert set(kwargs) == {"path"} and len(kwargs["path"]) == 6
        else:
            assert set(kwargs) == {"weights"} and kwargs["weights"].shape == (6, 5)


def record(epoch: int, arch: tuple[int, ...], phase: str) -> EpochRecord:
    return EpochRecord(epoch, arch, {"val_acc": 50.0}, 1.0, {"phase": phase})


def test_stability_stops_once_the_cell_holds_for_patience_epochs() -> None:
    method = GIcso(patience=2, **SMALL_SWARM)
    cell, other = (3, 3, 3, 3, 3, 3), (2, 3, 3, 3, 3, 3)
    assert method.stop([record(1, cell, "stability"), record(2, cell, "stability")]) is None
    held = [record(1, other, "stability")] + [record(e, cell, "stability") for e in (2, 3, 4)]
    assert "unchanged for 2" in method.stop(held)
    swarm_then = [record(1, cell, "explore")] + [record(e, cell, "stability") for e in (2, 3)]
    assert method.stop(swarm_then) is None


def test_a_search_resumed_in_the_middle_of_exploration_equals_the_whole(
    data, tmp_path: Path
) -> None:
    def method() -> GIcso:
        return GIcso(warmup=0.0, explore=0.75, **SMALL_SWARM)

    whole = search_oneshot(method(), SPACE, data, RECIPE, epochs=4)
    checkpoint = tmp_path / "gicso.ckpt"

    class Killed(Exception):
        pass

    def kill(row: EpochRecord) -> None:
        if row.epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        search_oneshot(method(), SPACE, data, RECIPE, epochs=4, checkpoint=checkpoint, record=kill)
    resumed = search_oneshot(method(), SPACE, data, RECIPE, epochs=4, checkpoint=checkpoint)
    assert resumed.arch == whole.arch
    for a, b in zip(resumed.history, whole.history, strict=True):
        assert (a.arch, a.metrics, a.info) == (b.arch, b.metrics, b.info)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warmup": 1.0},
        {"explore": 0.0},
        {"particles": 1},
        {"fitness": "loss"},
        {"train": "both"},
        {"collapse": 0},
    ],
)
def test_bad_parameters_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="gicso"):
        GIcso(**kwargs)
