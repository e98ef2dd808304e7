"""``pmfnas export``: every format loads and runs where pmfnas cannot be imported.

The exported files are run in a subprocess whose import path holds the venv's packages except
pmfnas (the ``run_without_pmfnas`` fixture), so an exported file that still needed pmfnas would
fail there.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from pmfnas.cli.export import Format
from pmfnas.errors import ConfigError
from pmfnas.runs.export import export_model, prepare_model
from pmfnas.spaces.export import ONNX_OPSET, ExportFormat
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.saved import NetworkRecord, Preprocessing, save_network

ALL_OPS = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
SMALL = {"channels": 4, "cells_per_stage": 1, "num_classes": 5, "input_size": 8}
NET = {k: v for k, v in SMALL.items() if k != "input_size"}
SMALL_ARGS = ["--channels", "4", "--cells", "1", "--num-classes", "5", "--input-size", "8"]
FILES = {"python": "net.py", "torchscript": "net.ts", "onnx": "net.onnx"}

RUNNER = """
import torch

x = torch.load("input.pt")
outputs = {}
with torch.no_grad():
    import net
    outputs["python"] = net.build()(x)
    outputs["torchscript"] = torch.jit.load("net.ts")(x)
import onnxruntime
session = onnxruntime.InferenceSession("net.onnx", providers=["CPUExecutionProvider"])
outputs["onnx"] = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
torch.save(outputs, "outputs.pt")
"""


def trained_like(seed: int = 1) -> dict[str, torch.Tensor]:
    """Weights unlike any fresh initialisation: moved parameters and batch-norm statistics."""
    model = prepare_model(ALL_OPS, **NET, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for key, value in state.items():
        noise = torch.randn(value.shape, generator=gen)
        if key.endswith("running_var"):
            value.copy_(0.5 + noise.abs())
        elif key.endswith(("running_mean", "bias")):
            value.copy_(0.1 * noise)
        elif key.endswith("num_batches_tracked"):
            value.fill_(1000)
        else:
            value.mul_(1 + 0.2 * noise)
    return state


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, run_without_pmfnas
) -> tuple[Path, torch.Tensor]:
    """The three formats of one trained-like network, run by a Python that lacks pmfnas."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    work = tmp_path_factory.mktemp("export")
    weights = trained_like()
    for fmt, name in FILES.items():
        with pytest.warns(UserWarning, match="records no input preprocessing"):
            export_model(ALL_OPS, fmt, work / name, **SMALL, weights=weights)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # batch 3 ≠ export's 2
    torch.save(x, work / "input.pt")
    run_without_pmfnas(RUNNER, work)
    with torch.no_grad():
        expected = prepare_model(ALL_OPS, **NET, weights=weights)(x)
    return work, expected


@pytest.mark.parametrize("fmt", FILES)
def test_exported_model_runs_without_pmfnas(exported, fmt):
    work, expected = exported
    outputs = torch.load(work / "outputs.pt")
    assert outputs[fmt].shape == (3, 5)
    torch.testing.assert_close(outputs[fmt], expected, atol=1e-5, rtol=1e-5)


def test_trained_weights_are_what_is_exported(exported):
    work, expected = exported
    x = torch.load(work / "input.pt")
    with torch.no_grad():
        fresh = prepare_model(ALL_OPS, **NET)(x)
    assert not torch.allclose(fresh, expected, atol=1e-2)  # so the match above needs the weights
    saved = torch.load(work / "net.pt", weights_only=True)
    for key, value in trained_like().items():
        torch.testing.assert_close(saved[key], value)


def test_onnx_file_has_dynamic_batch_and_opset(exported):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(exported[0] / "net.onnx")
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert ONNX_OPSET >= 17
    (graph_input,) = model.graph.input
    batch, *rest = graph_input.type.tensor_type.shape.dim
    assert batch.dim_param and [d.dim_value for d in rest] == [3, 8, 8]


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cells_to_check() -> list[str]:
    """Every op on every edge, dead nodes, nodes fed only by ``none``, and random cells."""
    space = NB201Space()
    rng = np.random.default_rng(0)
    fixed = [(op,) * 6 for op in range(5)] + [(3, 0, 0, 1, 2, 0), (2, 3, 1, 0, 0, 4)]
    return [space.format(c) for c in fixed + [space.sample(rng) for _ in range(12)]]


@pytest.mark.parametrize("arch", cells_to_check())
def test_python_source_matches_the_network(tmp_path, arch):
    path = export_model(arch, "python", tmp_path / "net.py", channels=2, cells_per_stage=1).path
    source = path.read_text()
    assert "pmfnas import" not in source and "import pmfnas" not in source
    module = load_module(path)
    assert arch == module.ARCH and arch in module.__doc__
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = prepare_model(arch, channels=2, cells_per_stage=1)
    with torch.no_grad():
        torch.testing.assert_close(module.build()(x), expected(x), atol=1e-6, rtol=1e-6)
    # the generated classes take any pmfnas state_dict of this shape, strictly
    fresh = module.NB201Network()
    fresh.load_state_dict(expected.state_dict())


def test_python_source_is_documented_and_lint_clean(tmp_path, lint):
    path = export_model(ALL_OPS, "python", tmp_path / "net.py", **SMALL).path
    doc = load_module(path).__doc__
    for fact in (ALL_OPS, "C=4", "N=1", "5 classes", "(batch, 3, 8, 8)"):
        assert fact in doc
    lint(path)


def test_seeded_initialisation_leaves_the_callers_random_stream(tmp_path):
    torch.manual_seed(7)
    before = torch.rand(3)
    torch.manual_seed(7)
    a = prepare_model(ALL_OPS, **NET, seed=0).state_dict()
    after = torch.rand(3)
    b = prepare_model(ALL_OPS, **NET, seed=0).state_dict()
    c = prepare_model(ALL_OPS, **NET, seed=1).state_dict()
    torch.testing.assert_close(before, after)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a["stem.0.weight"], c["stem.0.weight"])


def test_library_rejects_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="unknown export format 'keras'"):
        export_model(ALL_OPS, "keras", tmp_path / "net.h5", **SMALL)


def test_onnx_without_onnxscript_says_what_to_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxscript" else real(name, *a),
    )
    with pytest.raises(ConfigError, match=r"onnxscript: pip install 'pmfnas\[onnx\]'"):
        export_model(ALL_OPS, "onnx", tmp_path / "net.onnx", **SMALL)
    assert not (tmp_path / "net.onnx").exists()


def test_cli_formats_match_the_library():
    assert [f.value for f in Format] == [f.value for f in ExportFormat]


def test_cli_exports_torchscript_with_weights(cli, tmp_path):
    weights = tmp_path / "trained.pt"
    torch.save(trained_like(), weights)
    out = tmp_path / "deep" / "net.ts"
    code, stdout, err = cli.run(
        "export",
        ALL_OPS,
        "-f",
        "torchscript",
        "--out",
        str(out),
        *SMALL_ARGS,
        "--weights",
        str(weights),
    )
    assert code == 0, err
    assert str(out) in stdout and str(weights) in stdout
    # a plain state_dict records no preprocessing: the model takes what the network takes
    assert "records no input preprocessing" in err and "normalised as in training" in stdout
    x = torch.randn(4, 3, 8, 8)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        got = torch.jit.load(out)(x)
        expected = prepare_model(ALL_OPS, **NET, weights=weights)(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A weights file as ``pmfnas train --save`` writes it, of the trained-like network."""
    path = tmp_path / "saved.pt"
    record = NetworkRecord(
        space="nb201", arch=ALL_OPS, channels=4, cells_per_stage=1, num_classes=5,
        input_channels=3, data="five", classes=tuple("abcde"),
        preprocessing=Preprocessing(MEAN, STD, stored_size=(8, 8), size=(8, 8)),
    )  # fmt: skip
    save_network(path, trained_like(), record)
    return path


def test_cli_exports_a_saved_network_with_no_size_flags(cli, saved):
    out = saved.parent / "net.ts"
    code, stdout, err = cli.run(
        "export", "--weights", saved, "--format", "torchscript", "--out", out
    )
    assert code == 0, err
    for fact in ("float32 (batch, 3, 8, 8), RGB channels; raw pixels 0..255", "a, b, c, d, e"):
        assert fact in stdout
    assert "inside the model: / 255, - mean (0.5000, 0.4000, 0.3000)" in stdout
    assert f"{out}.json" in stdout and json.loads(Path(f"{out}.json").read_text())["classes"]
    pixels = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    normalised = (pixels / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[
        :, None, None
    ]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.load(out)
        expected = prepare_model(weights=saved)(normalised)
        for raw in (pixels, pixels.float()):
            torch.testing.assert_close(traced(raw), expected, atol=1e-5, rtol=1e-5)


def test_cli_without_normalisation_says_what_to_apply(cli, saved):
    out = saved.parent / "net.py"
    code, stdout, err = cli.run(
        "export", "--weights", saved, "--format", "python", "--out", out, "--no-normalize"
    )
    assert code == 0, err
    assert (
        "float32 (batch, 3, 8, 8), RGB channels; normalised: (pixels / 255 - mean) / std" in stdout
    )
    assert "yours to apply: / 255, - mean (0.5000, 0.4000, 0.3000)" in stdout
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(load_module(out).build()(x), prepare_model(weights=saved)(x))


def test_cli_exports_python_by_nats_index(cli, tmp_path):
    out = tmp_path / "net.py"
    code, stdout, _ = cli.run("export", "6111", "--format", "python", "--out", str(out))
    assert code == 0
    assert str(out.with_suffix(".pt")) in stdout and "seed 0" in stdout
    assert NB201Space().format(NB201Space().arch(6111)) == load_module(out).ARCH


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--channels", "8"], "channels=8 disagrees with weights file saved.pt, whose network"),
        (["--input-size", "16"], "takes 8x8 images"),
        (["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "which holds " + ALL_OPS),
    ],
)
def test_cli_refuses_flags_that_contradict_the_saved_network(cli, saved, monkeypatch, args, needle):
    monkeypatch.chdir(saved.parent)
    code, _, err = cli.run(
        "export", "--weights", "saved.pt", "--format", "python", "--out", "n.py", *args
    )
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert not (saved.parent / "n.py").exists()


def test_cli_cannot_bake_in_preprocessing_nobody_recorded(cli, tmp_path):
    weights = tmp_path / "plain.pt"
    torch.save(trained_like(), weights)
    code, _, err = cli.run(
        "export", ALL_OPS, *SMALL_ARGS, "--weights", weights, "--normalize",
        "--format", "python", "--out", tmp_path / "n.py",
    )  # fmt: skip
    assert code == 2 and "records no input preprocessing to bake in" in err
    code, _, err = cli.run("export", "--format", "python", "--out", tmp_path / "n.py")
    assert code == 2 and "no architecture" in err
    assert not (tmp_path / "n.py").exists()


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    torch.save(prepare_model(ALL_OPS, **NET), tmp_path / "module.pt")
    torch.save(
        prepare_model(ALL_OPS, channels=2, cells_per_stage=1).state_dict(), tmp_path / "c2.pt"
    )
    torch.save({"weights": [1, 2]}, tmp_path / "list.pt")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-f", "keras", "--out", "net.h5"], "keras"),
        (["-f", "python", "--out", "net.onnx"], ".py"),
        (["-f", "onnx", "--out", "net.onnx", "--input-size", "30"], "multiple of 4"),
        (["-f", "python", "--out", "net.py", "--channels", "0"], "--channels"),
        (["-f", "python", "--out", "net.py", "--channels", "20000"], "widest is C="),
        (["-f", "python", "--out", "net.py", "--cells", "500"], "at most 100"),
        (["-f", "python", "--out", "net.py", "--seed", "-1"], "seed must be an integer"),
        (["-f", "python", "--out", "net.py", "--weights", "absent.pt"], "absent.pt not found"),
        (["-f", "python", "--out", "net.py", "--weights", "garbage.pt"], "garbage.pt"),
        (["-f", "python", "--out", "net.py", "--weights", "module.pt"], "module.pt holds objects"),
        (
            ["-f", "python", "--out", "net.py", "--weights", "list.pt"],
            "list.pt is not a state_dict",
        ),
        (["-f", "python", "--out", "net.py", "--weights", "c2.pt"], "c2.pt does not fit"),
    ],
)
def test_cli_errors_are_one_line(cli, bad_files, monkeypatch, args, needle):
    monkeypatch.chdir(bad_files)
    code, _, err = cli.run("export", ALL_OPS, *SMALL_ARGS[:4], *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert not (bad_files / "net.py").exists() and not (bad_files / "net.onnx").exists()


@pytest.mark.parametrize("arch", ["|nor_conv_3x3~0|+|bogus~0|", "15625", "|skip_connect~1|+"])
def test_cli_rejects_malformed_arch(cli, tmp_path, arch):
    code, _, err = cli.run("export", arch, "-f", "python", "--out", str(tmp_path / "n.py"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "n.py").exists()
