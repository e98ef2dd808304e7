"""The training loop, its recipe and crash-safe checkpoints, on the embedded digits."""

import io
import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile

import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.errors import ConfigError
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.network import NB201Network
from pmfnas.training import TrainingRecipe, evaluate, fit
from pmfnas.training.checkpoint import load_checkpoint, save_checkpoint
from pmfnas.training.loop import Device

CELL = NB201Space().arch(6111)
RECIPE = TrainingRecipe(batch_size=128, channels=4, cells_per_stage=1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="holdout")


def network(seed=0):
    torch.manual_seed(seed)
    return NB201Network(CELL, channels=4, cells_per_stage=1, input_channels=1)


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.values(), b.values(), strict=True))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-identical sums need the same thread count everywhere
    yield
    torch.set_num_threads(threads)


def test_recipe_defaults_are_nb201s():
    recipe = TrainingRecipe()
    assert (recipe.batch_size, recipe.lr, recipe.momentum, recipe.nesterov) == (256, 0.1, 0.9, True)
    assert (recipe.weight_decay, recipe.channels, recipe.cells_per_stage) == (5e-4, 16, 5)


@pytest.mark.parametrize(
    "bad", [{"batch_size": 0}, {"lr": 0.0}, {"momentum": 1.0}, {"weight_decay": -1.0}]
)
def test_recipe_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        TrainingRecipe(**bad)


def test_fit_records_a_curve_with_a_cosine_schedule(digits):
    result = fit(network(), digits, RECIPE, 4)
    assert [row["epoch"] for row in result.curve] == [1, 2, 3, 4]
    lrs = [row["lr"] for row in result.curve]  # the lr each epoch started with
    steps = -(-len(digits.train_y) // RECIPE.batch_size)
    expected = [
        0.05 * (1 + torch.cos(torch.tensor(torch.pi * e * steps / (4 * steps)))) for e in range(4)
    ]
    assert lrs == pytest.approx([float(v) for v in expected])
    for row in result.curve:
        assert set(row) == {
            "epoch",
            "train_loss",
            "train_acc",
            "valid_loss",
            "valid_acc",
            "lr",
            "seconds",
        }
        assert 0 <= row["valid_acc"] <= 100 and row["seconds"] > 0
    assert result.seconds >= sum(row["seconds"] for row in result.curve)
    assert result.last["train_loss"] < result.curve[0]["train_loss"]


def test_fit_is_deterministic_for_a_seed(digits):
    a, b, c = network(), network(), network()
    fit(a, digits, RECIPE, 2, seed=3)
    fit(b, digits, RECIPE, 2, seed=3)
    fit(c, digits, RECIPE, 2, seed=4)
    assert same_weights(a.state_dict(), b.state_dict())
    assert not same_weights(a.state_dict(), c.state_dict())


def test_evaluate_reports_loss_and_accuracy(digits):
    model = network()
    fit(model, digits, RECIPE, 3)
    scores = evaluate(model, digits, "test")
    assert set(scores) == {"test_loss", "test_acc"}
    assert scores["test_acc"] > 50  # ten classes: chance is 10 %


KILLED_RUN = textwrap.dedent(
    """
    import os, sys, torch
    from pathlib import Path
    from pmfnas.data import load_dataset
    from pmfnas.spaces.nb201 import NB201Space
    from pmfnas.spaces.nb201.network import NB201Network
    from pmfnas.training import TrainingRecipe, fit

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = NB201Network(NB201Space().arch(6111), channels=4, cells_per_stage=1, input_channels=1)
    recipe = TrainingRecipe(batch_size=128, channels=4, cells_per_stage=1)
    data = load_dataset("digits", split="holdout")
    class Die:  # a TrainingWatcher
        def resumed(self, epochs, source, own):
            pass
        def batch(self, at):
            pass
        def epoch(self, row):
            if row["epoch"] == 2:
                os._exit(9)  # a hard kill: no cleanup, no flush
    fit(model, data, recipe, 4, seed=1, checkpoint=Path(sys.argv[1]), watcher=Die())
    """
)


def test_killed_training_resumes_to_the_same_weights(digits, tmp_path):
    path = tmp_path / "run.pt"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(path)], env=env, check=False)
    assert killed.returncode == 9
    assert len(load_checkpoint(path, {"horizon": 4, "seed": 1})["curve"]) == 2
    resumed = network()
    result = fit(resumed, digits, RECIPE, 4, seed=1, checkpoint=path)
    uninterrupted = network()
    reference = fit(uninterrupted, digits, RECIPE, 4, seed=1)
    assert same_weights(resumed.state_dict(), uninterrupted.state_dict())
    assert [r["valid_acc"] for r in result.curve] == [r["valid_acc"] for r in reference.curve]


def test_a_finished_checkpoint_answers_without_training(digits, tmp_path):
    path = tmp_path / "run.pt"
    first = fit(network(), digits, RECIPE, 2, checkpoint=path)
    again = fit(network(seed=5), digits, RECIPE, 2, checkpoint=path)
    assert again.curve == first.curve  # the seconds of the last checkpoint write are not in it
    assert sum(r["seconds"] for r in first.curve) <= again.seconds <= first.seconds


def test_a_checkpoint_of_another_training_is_refused(digits, tmp_path):
    path = tmp_path / "run.pt"
    fit(network(), digits, RECIPE, 1, checkpoint=path)
    with pytest.raises(ConfigError, match="another training"):
        fit(network(), digits, RECIPE, 1, seed=7, checkpoint=path)


def test_a_prefix_continues_to_the_weights_of_the_whole_schedule(digits, tmp_path):
    path = tmp_path / "prefix.pt"
    prefix = fit(network(), digits, RECIPE, 2, horizon=4, seed=1, checkpoint=path)
    continued_net = network()
    own = tmp_path / "whole.pt"
    own.write_bytes(b"torn")  # its own checkpoint is damaged: it starts from the prefix
    with pytest.warns(UserWarning, match="whole.pt: discarded a damaged checkpoint"):
        continued = fit(continued_net, digits, RECIPE, 4, seed=1, checkpoint=own, start_from=path)
    whole_net = network()
    whole = fit(whole_net, digits, RECIPE, 4, seed=1)
    assert same_weights(continued_net.state_dict(), whole_net.state_dict())
    assert continued.curve[:2] == prefix.curve
    assert [r["lr"] for r in continued.curve] == [r["lr"] for r in whole.curve]
    # the prefix's seconds as saved (its last checkpoint write is not in them)
    assert sum(r["seconds"] for r in prefix.curve) <= continued.base_seconds <= prefix.seconds
    assert continued.seconds > continued.base_seconds and whole.base_seconds == 0


def test_a_prefix_keeps_the_learning_rate_of_its_horizon(digits):
    short = fit(network(), digits, RECIPE, 2, seed=1)
    prefix = fit(network(), digits, RECIPE, 2, horizon=8, seed=1)
    assert prefix.curve[1]["lr"] > short.curve[1]["lr"]  # still high: 6 epochs of decay left


def test_a_start_longer_than_asked_or_a_short_horizon_is_refused(digits, tmp_path):
    path = tmp_path / "prefix.pt"
    fit(network(), digits, RECIPE, 2, horizon=4, checkpoint=path)
    with pytest.raises(ConfigError, match="more than the 1 asked"):
        fit(network(), digits, RECIPE, 1, horizon=4, start_from=path)
    with pytest.raises(ConfigError, match="another training"):
        fit(network(), digits, RECIPE, 3, horizon=5, start_from=path)
    with pytest.raises(ConfigError, match="do not fit"):
        fit(network(), digits, RECIPE, 3, horizon=2)


def test_a_file_that_is_not_a_checkpoint_is_discarded_with_a_warning(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match=r"run\.pt: discarded a damaged checkpoint \(no checksum"):
        assert load_checkpoint(path, {}) is None
    assert not path.exists()


class Stop(Exception):
    """Stands for a crash after an epoch's checkpoint was saved."""


class Heard:
    """A :class:`~pmfnas.training.loop.TrainingWatcher` that keeps what it hears."""

    def __init__(self):
        self.resumes, self.batches, self.epochs = [], [], []

    def resumed(self, epochs, source, own):
        self.resumes.append((epochs, source, own))

    def batch(self, at):
        self.batches.append((at.epoch, at.epochs, at.batch, at.batches, at.done))

    def epoch(self, row):
        self.epochs.append(row["epoch"])


class StopAfter(Heard):
    """A watcher that crashes the training once epoch ``epochs`` is saved."""

    def __init__(self, epochs):
        super().__init__()
        self.after = epochs

    def epoch(self, row):
        if row["epoch"] == self.after:
            raise Stop


def _zero_tensor_bytes(path):
    """Zero 64 bytes in the middle of the largest tensor record of a checkpoint's payload."""
    data = bytearray(path.read_bytes())
    start = data.index(b"\n") + 1  # the payload (a torch zip) follows the checksum line
    payload = bytes(data[start:])
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        record = max((i for i in archive.infolist() if "/data/" in i.filename),
                     key=lambda i: i.file_size)  # fmt: skip
    name_length, extra_length = struct.unpack("<HH", payload[record.header_offset + 26 :][:4])
    offset = record.header_offset + 30 + name_length + extra_length + record.file_size // 2
    data[start + offset : start + offset + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return torch.load(io.BytesIO(bytes(data[start:])), weights_only=True)  # loads: damage is silent


@pytest.mark.parametrize("damage", ["zeroed", "truncated"])
def test_a_damaged_checkpoint_is_discarded_and_the_training_restarts(digits, tmp_path, damage):
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        fit(network(), digits, RECIPE, 4, seed=1, checkpoint=path, watcher=StopAfter(2))
    intact = load_checkpoint(path, {"horizon": 4, "seed": 1})
    if damage == "zeroed":
        damaged = _zero_tensor_bytes(path)
        assert not same_weights(damaged["model"], intact["model"])
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    resumed = network()
    with pytest.warns(UserWarning, match="discarded a damaged checkpoint"):
        result = fit(resumed, digits, RECIPE, 4, seed=1, checkpoint=path)
    uninterrupted = network()
    reference = fit(uninterrupted, digits, RECIPE, 4, seed=1)
    assert same_weights(resumed.state_dict(), uninterrupted.state_dict())
    assert [r["valid_acc"] for r in result.curve] == [r["valid_acc"] for r in reference.curve]
    assert len(load_checkpoint(path, {"horizon": 4, "seed": 1})["curve"]) == 4  # written anew


def test_resuming_under_another_thread_count_warns_and_continues(digits, tmp_path):
    path = tmp_path / "run.pt"
    fit(network(), digits, RECIPE, 1, horizon=3, checkpoint=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same count: no warning
        fit(network(), digits, RECIPE, 2, horizon=3, checkpoint=path)
    torch.set_num_threads(2)
    with pytest.warns(UserWarning, match="saved under 1 torch threads, resumed under 2"):
        result = fit(network(), digits, RECIPE, 3, horizon=3, checkpoint=path)
    assert len(result.curve) == 3


def test_checkpoints_are_replaced_whole(tmp_path):
    path = tmp_path / "deep" / "run.pt"
    save_checkpoint(path, {"config": {"a": 1}, "x": 1})
    save_checkpoint(path, {"config": {"a": 1}, "x": 2})
    assert load_checkpoint(path, {"a": 1})["x"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]


@pytest.mark.parametrize(
    ("name", "gpus", "message"),
    [
        ("tpu", 0, "unknown device 'tpu'"),
        ("cuda:x", 1, "unknown device 'cuda:x'"),
        ("mps", 0, "unknown device 'mps'"),
        ("cuda", 0, "no CUDA GPU"),
        ("cuda:2", 2, r"only cuda:0\.\.cuda:1 exist"),
    ],
)
def test_devices_that_do_not_exist_are_config_errors(monkeypatch, name, gpus, message):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    with pytest.raises(ConfigError, match=message):
        Device.of(name)


def test_a_watcher_hears_every_batch_and_epoch_and_where_a_training_resumed(digits, tmp_path):
    steps = -(-len(digits.train_y) // RECIPE.batch_size)
    prefix, own = tmp_path / "prefix.pt", tmp_path / "own.pt"
    first = Heard()
    fit(network(), digits, RECIPE, 2, horizon=4, checkpoint=prefix, watcher=first)
    assert first.resumes == [] and first.epochs == [1, 2]
    assert first.batches == [
        (e, 2, b, steps, e - 1 + b / steps) for e in (1, 2) for b in range(1, steps + 1)
    ]
    continued = Heard()  # from the shorter training's checkpoint
    fit(network(), digits, RECIPE, 3, horizon=4, checkpoint=own, start_from=prefix,
        watcher=continued)  # fmt: skip
    assert continued.resumes == [(2, prefix, False)] and continued.epochs == [3]
    assert [b[0] for b in continued.batches] == [3] * steps
    resumed = Heard()  # after a crash, from its own checkpoint
    fit(network(), digits, RECIPE, 4, horizon=4, checkpoint=own, watcher=resumed)
    assert resumed.resumes == [(3, own, True)] and resumed.epochs == [4]
