"""``pmfnas train --space darts ... --recipe darts`` on the shared CIFAR-10 images, its resume,
its refusals, and ``pmfnas export`` of the network it saved."""

import importlib.util
import json
import warnings
from functools import partial

import numpy as np
import pytest
import torch

from pmfnas.cli.trial_log import TrainLog
from pmfnas.runs.export import export_model as export_network
from pmfnas.runs.export import prepare_model as prepare_network
from pmfnas.spaces.darts.published import PUBLISHED
from pmfnas.spaces.darts.space import DartsSpace
from pmfnas.spaces.saved import load_network

CAPS = ["--valid-images", "16", "--test-images", "16", "--threads", "1"]
"""Validation and test on a few images, on the thread the tests run on: seconds, not minutes."""
SMALL = ["--channels", "8", "--cells", "1", "--fraction", "0.02", "--data", "cifar10", *CAPS]
"""DARTS' recipe on a 5-cell network of width 8 and 93 training images (one batch of 96)."""

export_model = partial(export_network, space="darts")  # DARTS networks throughout
prepare_model = partial(prepare_network, space="darts")


def test_darts_v2_trains_with_the_published_recipe_and_size(cli, data_env, tmp_path):
    out_json = tmp_path / "train.json"
    code, out, err = cli.run(
        "train", "--space", "darts", "DARTS_V2", "--data", "cifar10", "--recipe", "darts",
        "--epochs", "1", "--fraction", "0.003", *CAPS, "--json", out_json,
    )  # fmt: skip
    assert code == 0, err
    assert "DARTS network on cifar10" in out
    assert "3.8258 (3.3493 without the auxiliary head)" in out
    summary = json.loads(out_json.read_text())
    # DARTS' published counts: 3,825,768 with the auxiliary head, 3,349,342 without
    assert round(summary["params_m"] * 1e6) == 3_825_768
    assert round(summary["inference_params_m"] * 1e6) == 3_349_342
    recipe = summary["recipe"]
    assert (recipe["batch_size"], recipe["lr"], recipe["nesterov"]) == (96, 0.025, False)
    assert (recipe["channels"], recipe["cells_per_stage"], recipe["weight_decay"]) == (36, 6, 3e-4)
    assert (recipe["grad_clip"], recipe["cutout"], recipe["drop_path"]) == (5.0, 16, 0.2)
    assert recipe["auxiliary_weight"] == 0.4
    assert summary["space"] == "darts" and summary["index"] is None
    assert [row["epoch"] for row in summary["curve"]] == [1]


def test_every_knob_of_the_recipe_can_be_set(cli, data_env, tmp_path):
    out_json = tmp_path / "train.json"
    code, _, err = cli.run(
        "train", "--space", "darts", PUBLISHED["PC_DARTS"], "--recipe", "darts", "--epochs", "1",
        *SMALL, "--batch-size", "64", "--lr", "0.05", "--momentum", "0.8", "--nesterov",
        "--weight-decay", "1e-4", "--grad-clip", "2", "--cutout", "8", "--drop-path", "0.1",
        "--auxiliary-weight", "0.5", "--json", out_json,
    )  # fmt: skip
    assert code == 0, err
    recipe = json.loads(out_json.read_text())["recipe"]
    assert {k: recipe[k] for k in ("batch_size", "lr", "momentum", "nesterov")} == {
        "batch_size": 64, "lr": 0.05, "momentum": 0.8, "nesterov": True,
    }  # fmt: skip
    assert (recipe["weight_decay"], recipe["grad_clip"], recipe["cutout"]) == (1e-4, 2.0, 8)
    assert (recipe["drop_path"], recipe["auxiliary_weight"]) == (0.1, 0.5)
    assert (recipe["channels"], recipe["cells_per_stage"]) == (8, 1)


def test_an_interrupted_darts_training_resumes_to_the_uninterrupted_weights(
    cli, data_env, tmp_path, monkeypatch
):
    args = ["train", "--space", "darts", "DARTS_V2", "--recipe", "darts", "--epochs", "3", *SMALL]
    whole = tmp_path / "whole.pt"
    assert cli.exit_code(*args, "--save", whole) == 0
    ck, resumed = tmp_path / "ck", tmp_path / "resumed.pt"
    heard = TrainLog.epoch

    def interrupt_after_two(self, row):
        heard(self, row)
        if row["epoch"] == 2:
            raise KeyboardInterrupt  # as Ctrl-C would, once epoch 2 is saved

    with monkeypatch.context() as patch:
        patch.setattr(TrainLog, "epoch", interrupt_after_two)
        code, _, err = cli.run(*args, "--checkpoints", ck, "--save", resumed)
    assert code == 130 and "interrupted: training stopped in epoch" in err
    assert not resumed.exists()
    code, _, err = cli.run(*args, "--checkpoints", ck, "--save", resumed)
    assert code == 0, err
    assert "epoch 3 of 3 next" in err
    (a, record), (b, _) = load_network(whole), load_network(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(k.startswith("auxiliary.") for k in a)  # the head was trained, and saved
    assert (record.space, record.channels, record.cells_per_stage) == ("darts", 8, 1)


def test_export_writes_the_trained_darts_network_without_its_head(cli, data_env, tmp_path):
    weights = tmp_path / "w.pt"
    args = ["train", "--space", "darts", "DARTS_V2", "--recipe", "darts", "--epochs", "1", *SMALL]
    assert cli.exit_code(*args, "--save", weights) == 0
    pixels = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    network = prepare_model(weights=weights)
    assert getattr(network, "auxiliary", None) is None
    state, record = load_network(weights)
    mean, std = (torch.tensor(v)[:, None, None] for v in (record.preprocessing.mean,
                                                          record.preprocessing.std))  # fmt: skip
    with torch.no_grad():
        expected = network((pixels / 255 - mean) / std)
    for fmt, name in (("torchscript", "net.ts"), ("python", "net.py")):
        code, out, err = cli.run(
            "export", "--weights", weights, "-f", fmt, "--out", tmp_path / name
        )
        assert code == 0, err
        assert "raw pixels 0..255" in out and "logits (batch, 10)" in out
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.load(tmp_path / "net.ts")
        torch.testing.assert_close(traced(pixels), expected, atol=1e-5, rtol=1e-5)
    saved = torch.load(tmp_path / "net.pt", weights_only=True)
    assert not any(k.startswith("auxiliary.") for k in saved)
    assert all(torch.equal(saved[k], state[k]) for k in saved)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["DARTS_V2", "--space", "darts", "--recipe", "dart"], "unknown training recipe 'dart'"),
        (["Genotype(normal=[])", "--space", "darts", "--recipe", "darts"], "malformed DARTS"),
        (["DARTS_V9", "--space", "darts", "--recipe", "darts"], "unknown genotype name 'DARTS_V9'"),
        (["DARTS_V2", "--space", "darts", "--recipe", "darts", "--resolution", "16"],
         "auxiliary head"),
        (["DARTS_V2", "--space", "darts", "--recipe", "darts", "--data", "digits"],
         "auxiliary head"),
        (["0", "--recipe", "darts"], "--space darts"),
        (["DARTS_V2", "--space", "nb999"], "unknown search space"),
        (["DARTS_V2", "--space", "darts", "--drop-path", "1"], "drop_path must lie in [0, 1)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(cli, data_env, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli.run("train", "--data", "cifar10", *CAPS, "--epochs", "1",
                           "--checkpoints", tmp_path / "ck", *argv)  # fmt: skip
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert not list(tmp_path.rglob("*.pt"))  # refused before any training


def _load(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _genotypes():
    """The published genotypes and sampled ones: every operation, reduction skips included."""
    space = DartsSpace()
    rng = np.random.default_rng(0)
    return [*PUBLISHED, *(space.format(space.sample(rng)) for _ in range(3))]


@pytest.mark.parametrize("arch", _genotypes())
def test_python_export_of_a_darts_network_is_the_network(tmp_path, arch):
    path = export_model(arch, "python", tmp_path / "net.py", channels=4, cells_per_stage=1).path
    source = path.read_text()
    assert "pmfnas import" not in source and "import pmfnas" not in source
    module = _load(path)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = prepare_model(arch, channels=4, cells_per_stage=1)
    with torch.no_grad():
        torch.testing.assert_close(module.build()(x), expected(x), atol=1e-6, rtol=1e-6)
    module.DartsNetwork().load_state_dict(expected.state_dict())  # strictly the same names


def test_python_export_is_lint_clean(tmp_path, lint):
    lint(export_model("DARTS_V2", "python", tmp_path / "net.py").path)


def test_onnx_export_of_a_darts_network_runs_in_onnxruntime(tmp_path):
    pytest.importorskip("onnxscript")
    runtime = pytest.importorskip("onnxruntime")
    out = tmp_path / "net.onnx"
    meta = export_model("DARTS_V2", "onnx", out, channels=4, cells_per_stage=1).metadata
    assert meta["output"] == {"name": "logits", "shape": ["batch", 10]}
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # batch 3 ≠ 2
    session = runtime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = prepare_model("DARTS_V2", channels=4, cells_per_stage=1)(x)
    torch.testing.assert_close(torch.from_numpy(logits), expected, atol=1e-5, rtol=1e-5)
