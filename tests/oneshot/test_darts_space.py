"""One-shot methods in the DARTS space: the DARTS supernet, its profile, derived genotypes scored
by NAS-Bench-301's surrogate, and the collapse measure on the normal cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pmfnas.oneshot import ONESHOT
from pmfnas.oneshot.gicso import GIcso, _softmax
from pmfnas.oneshot.profiles import PROFILES, space_profile
from pmfnas.runs.oneshot import run_oneshot_search, surrogate_accuracy
from pmfnas.spaces import DartsSpace, create_space
from pmfnas.spaces.darts.space import OPS
from pmfnas.spaces.oneshot import parameter_free_share, random_parameter_free_share
from pmfnas.storage import Storage

SPACE = DartsSpace()
TINY = {"data": "digits", "space": "darts", "epochs": 1, "channels": 4, "batch_size": 32}
TINY |= {"fraction": 0.25}  # a quarter of the digits: seconds per method
FAST = {"gicso": {"particles": 3, "generations": 1, "warmup": 0.0, "explore": 1.0}}


def test_darts_profiles_follow_the_darts_search_setting():
    reference, cpu = space_profile("darts", "reference"), space_profile("darts", "cpu")
    assert (reference.recipe.channels, reference.recipe.cells_per_stage) == (16, 2)  # 8 cells
    assert not reference.recipe.nesterov and reference.recipe.weight_decay == 3e-4
    assert cpu.recipe.cells_per_stage == 1 and cpu.images == PROFILES.get("cpu").images
    assert space_profile("nb201", "cpu") == PROFILES.get("cpu")


def test_the_parameter_free_share_of_a_genotype_is_its_normal_cells():
    v1 = SPACE.resolve("DARTS_V1")  # normal cell: 3 skip connections among 8 edges
    assert parameter_free_share(SPACE, v1) == 3 / 8
    assert parameter_free_share(SPACE, SPACE.resolve("PC_DARTS")) == 2 / 8  # skip, avg_pool


def test_a_random_cell_holds_each_space_share_of_operations_without_weights():
    """DARTS' cells draw among 7 operations, 3 without weights; NB201's among 5, 3 without."""
    assert random_parameter_free_share(SPACE) == pytest.approx(3 / 7, abs=0.02)
    assert random_parameter_free_share(create_space("nb201")) == pytest.approx(3 / 5, abs=0.02)


def test_gicso_calls_a_cell_collapse_prone_above_a_random_cells_share():
    """By default: 4 of the normal cell's 8 edges without weights (DARTS_V1 has 3), or 4 of
    NB201's 6; a share given is kept as it is."""
    trainer = type("Trainer", (), {"space": SPACE})()
    v1 = SPACE.resolve("DARTS_V1")
    fourth = list(v1)
    fourth[1] = OPS.index("max_pool_3x3")  # the first edge's sep_conv_3x3
    assert parameter_free_share(SPACE, tuple(fourth)) == 4 / 8
    assert not GIcso()._prone(trainer, v1) and GIcso()._prone(trainer, tuple(fourth))
    assert not GIcso(collapse=0.5)._prone(trainer, tuple(fourth))
    nb201 = type("Trainer", (), {"space": create_space("nb201")})()
    assert GIcso()._prone(nb201, (1, 1, 1, 1, 3, 3)) and not GIcso()._prone(
        nb201, (1, 1, 1, 3, 3, 3)
    )


def test_a_particle_is_read_through_its_softmax():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((28, 8))
    assert SPACE.derive(_softmax(logits)) == SPACE.derive(
        np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    )


@pytest.mark.parametrize("method", sorted(ONESHOT.names()))
def test_every_one_shot_method_searches_the_darts_supernet(method, tmp_path: Path):
    summary = run_oneshot_search(
        method, params=FAST.get(method, {}), storage=tmp_path / "runs.db", **TINY
    )
    arch = SPACE.parse(summary["arch"])  # a valid genotype in canonical text
    assert summary["space"] == "darts" and summary["index"] is None
    assert summary["parameter_free"] == parameter_free_share(SPACE, arch)
    assert summary["table_test_acc"] is None
    with Storage(tmp_path / "runs.db") as storage:
        ((name, config),) = storage.studies()
        assert name.endswith("-darts") and config["space"] == "darts"
        assert config["oneshot"]["recipe"]["cells_per_stage"] == 1


def test_the_returned_genotype_is_scored_by_the_surrogate_where_it_is(data_dir, nb301_dir):
    v2 = SPACE.resolve("DARTS_V2")
    assert surrogate_accuracy(SPACE, v2, data_dir) == pytest.approx(92.9, abs=0.5)  # YAHPO: 0.93
    assert surrogate_accuracy(create_space("nb201"), (0,) * 6, data_dir) is None
    assert surrogate_accuracy(SPACE, v2, Path("/nowhere")) is None
