"""Exports of a trained digits network take raw pixels and say so (issue 15, item 2).

A tiny network is trained for two epochs (deterministic on the CPU), saved as ``pmfnas train
--save`` saves it and exported in every format. A fresh Python that cannot import pmfnas feeds
each export the test images as the dataset stores them, 0..255, and must get exactly the test
accuracy pmfnas measured for those weights.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pmfnas.data import load_dataset
from pmfnas.errors import ConfigError
from pmfnas.runs.architecture import save_trained, train_architecture
from pmfnas.runs.export import export_model, prepare_model
from pmfnas.runs.profiles import training_evaluator, training_recipe
from pmfnas.spaces.saved import load_network
from pmfnas.types import Fidelity

ARCH = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
RESOLUTIONS = (0, 16)
"""As stored (8 x 8), and upsampled to 16 x 16 in training (the resolution fidelity)."""
FILES = {"python": "net.py", "torchscript": "net.ts", "onnx": "net.onnx"}
HAS_ONNX = all(importlib.util.find_spec(name) for name in ("onnxscript", "onnxruntime"))

RUNNER = """
import importlib.util, json
from pathlib import Path
import numpy as np
import torch

pixels, labels = np.load("pixels.npy"), np.load("labels.npy")
correct = {}
for folder in sorted(Path(".").glob("res*")):
    predicted = {}
    with torch.no_grad():
        spec = importlib.util.spec_from_file_location(f"net_{folder.name}", folder / "net.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        predicted["python"] = module.build()(torch.from_numpy(pixels)).argmax(1).numpy()
        traced = torch.jit.load(str(folder / "net.ts"))
        predicted["torchscript"] = traced(torch.from_numpy(pixels)).argmax(1).numpy()
    if (folder / "net.onnx").exists():
        import onnxruntime
        session = onnxruntime.InferenceSession(str(folder / "net.onnx"), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"input": pixels.astype(np.float32)})[0]
        predicted["onnx"] = logits.argmax(1)
    correct[folder.name] = {fmt: int((p == labels).sum()) for fmt, p in predicted.items()}
Path("correct.json").write_text(json.dumps(correct))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, float]]:
    """A folder with a saved network per resolution, and the test accuracy pmfnas measured."""
    root = tmp_path_factory.mktemp("raw")
    measured = {}
    for resolution in RESOLUTIONS:
        evaluator = training_evaluator("digits", recipe=training_recipe("digits", channels=4))
        fidelity = Fidelity(epochs=2, resolution=resolution)
        model, summary = train_architecture(ARCH, evaluator, fidelity)
        save_trained(root / f"w{resolution}.pt", model, evaluator, ARCH, fidelity)
        measured[resolution] = summary["test_acc"]
    return root, measured


@pytest.fixture(scope="module")
def run_exports(trained, run_without_pmfnas) -> tuple[Path, dict[str, dict[str, int]]]:
    """Every format of both networks, exported from their weights files with no other flag,
    and the test images each classifies correctly from raw pixels in a Python without pmfnas."""
    root, _ = trained
    for resolution in RESOLUTIONS:
        folder = root / f"res{resolution}"
        for fmt, name in FILES.items():
            if fmt != "onnx" or HAS_ONNX:
                export_model(None, fmt, folder / name, weights=root / f"w{resolution}.pt")
    pixels, labels = load_dataset("digits", split="holdout").part("test")
    assert pixels.dtype == torch.uint8
    np.save(root / "pixels.npy", pixels.numpy())
    np.save(root / "labels.npy", labels.numpy())
    run_without_pmfnas(RUNNER, root)
    return root, json.loads((root / "correct.json").read_text())


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("fmt", FILES)
def test_raw_pixels_reach_the_accuracy_pmfnas_measured(trained, run_exports, fmt, resolution):
    if fmt == "onnx" and not HAS_ONNX:
        pytest.skip("onnx export needs onnxscript and onnxruntime (pip install 'pmfnas[onnx]')")
    _, measured = trained
    _, correct = run_exports
    images = len(np.load(run_exports[0] / "labels.npy"))
    assert measured[resolution] > 30  # well above chance (10 %), so matching needs preprocessing
    assert 100 * correct[f"res{resolution}"][fmt] / images == measured[resolution]


def embedded_metadata(path: Path, fmt: str) -> dict:
    """The metadata an export carries inside its own file."""
    if fmt == "python":
        spec = importlib.util.spec_from_file_location(f"meta_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.METADATA
    if fmt == "torchscript":
        extra = {"pmfnas.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.load(path, _extra_files=extra)
        return json.loads(extra["pmfnas.json"])
    onnx = pytest.importorskip("onnx")
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    return json.loads(props["pmfnas"])


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("fmt", FILES)
def test_metadata_records_the_expected_input(run_exports, fmt, resolution):
    if fmt == "onnx" and not HAS_ONNX:
        pytest.skip("onnx export needs onnxscript and onnxruntime (pip install 'pmfnas[onnx]')")
    path = run_exports[0] / f"res{resolution}" / FILES[fmt]
    beside = json.loads(path.with_name(path.name + ".json").read_text())
    assert embedded_metadata(path, fmt) == beside
    digits = load_dataset("digits")
    assert beside["arch"] == ARCH and beside["data"] == "digits"
    assert beside["classes"] == [str(d) for d in range(10)]
    assert beside["network"] == {
        "num_classes": 10, "channels": 4, "cells_per_stage": 1, "input_channels": 1,
    }  # fmt: skip
    given = beside["input"]
    assert given["shape"] == ["batch", 1, 8, 8] and given["range"] == [0, 255]
    assert given["channels"] == "grey" and given["preprocessing_inside"]
    assert given["dtype"] == ("float32" if fmt == "onnx" else "uint8 or float32")
    pre = beside["preprocessing"]
    assert pre["mean"] == list(digits.mean) and pre["std"] == list(digits.std)
    if resolution:
        assert pre["resize"]["from"] == [8, 8] and pre["resize"]["to"] == [16, 16]
    else:
        assert pre["resize"] is None


def test_train_save_records_what_export_needs(trained):
    root, _ = trained
    state, record = load_network(root / "w16.pt")
    digits = load_dataset("digits")
    assert (record.space, record.arch, record.data) == ("nb201", ARCH, "digits")
    assert record.sizes() == {
        "channels": 4, "cells_per_stage": 1, "num_classes": 10, "input_channels": 1,
    }  # fmt: skip
    assert record.classes == digits.classes
    pre = record.preprocessing
    assert (pre.mean, pre.std) == (digits.mean, digits.std)
    assert (pre.stored_size, pre.size) == ((8, 8), (16, 16))
    prepare_model(weights=root / "w16.pt").load_state_dict(state)  # sizes from the record


def test_without_normalisation_the_export_takes_the_networks_input(trained, tmp_path):
    root, _ = trained
    exported = export_model(
        None, "python", tmp_path / "net.py", weights=root / "w16.pt", normalize=False
    )
    given = exported.metadata["input"]
    assert not given["preprocessing_inside"] and given["shape"] == ["batch", 1, 16, 16]
    assert "mean" in given["range"] and exported.metadata["preprocessing"]["resize"]
    assert "class RawPixels" not in (tmp_path / "net.py").read_text()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"channels": 8}, "channels=8 disagrees with weights file"),
        ({"num_classes": 5}, "num_classes=5 disagrees"),
        ({"input_size": 16}, "takes 8x8 images, the size its data stores images at"),
        ({"input_size": 8, "normalize": False}, "takes 16x16 images, the size its network"),
        ({"arch": "6111"}, "disagrees with weights file"),
    ],
)
def test_arguments_that_contradict_the_record_are_refused(trained, tmp_path, kwargs, needle):
    root, _ = trained
    arch = kwargs.pop("arch", None)
    with pytest.raises(ConfigError, match=needle):
        export_model(arch, "python", tmp_path / "net.py", weights=root / "w16.pt", **kwargs)
    assert not (tmp_path / "net.py").exists()


def test_arguments_that_agree_with_the_record_are_accepted(trained, tmp_path):
    root, _ = trained
    exported = export_model(
        ARCH, "python", tmp_path / "net.py", weights=root / "w0.pt", channels=4,
        cells_per_stage=1, num_classes=10, input_channels=1, input_size=8,
    )  # fmt: skip
    assert exported.metadata["input"]["preprocessing_inside"]
