"""One-shot searches as a use case: stored epochs, resume through storage, the table lookup."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pmfnas.errors import ConfigError, RegistryError
from pmfnas.oneshot import search_oneshot
from pmfnas.oneshot.profiles import PROFILES
from pmfnas.runs.oneshot import (
    create_method,
    oneshot_data,
    run_oneshot_search,
    table_accuracies,
    with_setting,
)
from pmfnas.spaces import create_space
from pmfnas.storage import Storage
from pmfnas.types import Fidelity

SPACE = create_space("nb201")
FAST = {"particles": 4, "generations": 1}


def search(tmp_path: Path, **kwargs):
    settings = dict(data="digits", epochs=3, params=FAST, storage=tmp_path / "runs.db") | kwargs
    return run_oneshot_search("gicso", **settings)


def test_every_epoch_is_stored_as_a_supernet_trial(tmp_path: Path) -> None:
    summary = search(tmp_path)
    with Storage(tmp_path / "runs.db") as storage:
        ((name, config),) = storage.studies()
        _, trials = storage.load(name)
        assert storage.stop_reason(name) == summary["stop_reason"]  # `pmfnas studies`: finished
    assert [t.fidelity for t in trials] == [Fidelity(supernet=e) for e in (1, 2, 3)]
    assert [t.info["origin"] for t in trials] == ["derived"] * 3
    assert config["strategy"] == "gicso" and config["oneshot"]["epochs"] == 3
    assert SPACE.format(trials[-1].arch) == summary["arch"]
    assert summary["trials"] == {f"supernet={e}": 1 for e in (1, 2, 3)}
    assert [t.clock for t in trials] == sorted(t.clock for t in trials)


def test_a_killed_search_resumes_from_its_checkpoint_beside_the_storage(tmp_path: Path) -> None:
    for folder in ("whole", "cut"):
        (tmp_path / folder).mkdir()
    whole = search(tmp_path / "whole")

    class Killed(Exception):
        pass

    def kill(done: float, total: float) -> None:
        if done > 1.5:
            raise Killed

    with pytest.raises(Killed):
        search(tmp_path / "cut", progress=kill)
    assert (tmp_path / "cut" / "runs.db.oneshot").is_dir()
    resumed = search(tmp_path / "cut")
    with Storage(tmp_path / "cut" / "runs.db") as storage:
        _, trials = storage.load(storage.studies()[0][0])
    assert [t.number for t in trials] == [0, 1, 2]
    assert resumed["arch"] == whole["arch"]


def test_profiles_cap_a_large_dataset_and_keep_a_small_one() -> None:
    cpu = PROFILES.get("cpu")
    data = oneshot_data("digits", cpu, seed=0)
    full = oneshot_data("digits", PROFILES.get("reference"), seed=0)
    assert data.image_size == (8, 8)  # already below the profile's 16 px: kept as stored
    assert len(data.train_y) == len(full.train_y) < cpu.images  # all of the small digits
    assert abs(len(full.train_y) - len(full.valid_y)) <= full.num_classes
    capped = oneshot_data("digits", replace(cpu, images=200), seed=0)
    assert abs(len(capped.train_y) - 200) <= 10 and abs(len(capped.valid_y) - 200) <= 10
    half = with_setting(replace(cpu, images=200), {"fraction": 0.5})
    assert half.images == 0 and half.fraction == 0.5  # a user's share replaces the cap


def test_bad_methods_and_parameters_are_one_clear_error() -> None:
    with pytest.raises(RegistryError, match="unknown one-shot method 'dart'"):
        create_method("dart")
    with pytest.raises(
        ConfigError, match=r"gdas has no parameter 'tau' \(known: tau_max, tau_min\)"
    ):
        create_method("gdas", {"tau": 1.0})
    with pytest.raises(ConfigError, match="particles must be an integer, got 'many'"):
        create_method("gicso", {"particles": "many"})
    assert create_method("gicso", {"particles": "4"}).particles == 4


def test_a_wall_budget_ends_the_search_before_an_epoch_it_cannot_pay_for() -> None:
    data = oneshot_data("digits", PROFILES.get("cpu"), seed=0)
    recipe = PROFILES.get("cpu").recipe
    result = search_oneshot(create_method("rsps"), SPACE, data, recipe, epochs=50, budget=1e-9)
    assert len(result.history) == 1
    assert "cannot pay for another supernet epoch" in result.stop_reason


def test_the_tables_score_the_returned_cell_with_the_published_optimum(data_dir: Path) -> None:
    """NB201's best CIFAR-10 cell (index 6111) has 94.37 % test accuracy after 200 epochs."""
    best = SPACE.arch(6111)
    scores = table_accuracies(SPACE, best, data_dir)
    assert scores is not None and scores["cifar10"] == pytest.approx(94.37, abs=0.01)


def test_a_setting_overrides_the_profile(tmp_path: Path) -> None:
    summary = search(tmp_path, epochs=1, channels=6, fraction=0.5, resolution=None)
    with Storage(tmp_path / "runs.db") as storage:
        ((_, config),) = storage.studies()
    assert config["oneshot"]["recipe"]["channels"] == 6
    assert config["oneshot"]["fraction"] == 0.5
    assert summary["n_trials"] == 1
    with pytest.raises(ConfigError, match="no setting width"):
        search(tmp_path, epochs=1, width=6)
