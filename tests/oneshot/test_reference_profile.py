"""The reference profile (XAutoDL's NB201 setting, meant for a GPU) takes a step on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.oneshot import ONESHOT
from pmfnas.oneshot.profiles import PROFILES, SPLIT
from pmfnas.oneshot.trainer import SupernetTrainer
from pmfnas.spaces import create_space
from pmfnas.training.loop import Device


@pytest.mark.parametrize("name", ONESHOT.names())
def test_every_method_takes_one_reference_step_on_cifar10(name: str, data_dir: Path) -> None:
    profile = PROFILES.get("reference")
    data = load_dataset("cifar10", data_dir, split=SPLIT)
    assert data.image_size == (32, 32)
    trainer = SupernetTrainer(
        create_space("nb201"), data, profile.recipe, epochs=50, seed=0, run=Device.of("cpu")
    )
    assert sum(p.numel() for p in trainer.net.parameters()) == 1_692_826
    before = [p.detach().clone() for p in trainer.net.parameters()]
    train, valid = next(iter(trainer.batches(0)))
    assert len(train[1]) == len(valid[1]) == 64
    ONESHOT.get(name)().step(trainer, train, valid, 0.0)
    after = list(trainer.net.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
