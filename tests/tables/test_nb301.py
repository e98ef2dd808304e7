"""YAHPO Gym's NAS-Bench-301 surrogate checked against the values YAHPO Gym publishes for
DARTS-V2, NASLib's NB301 accuracies, and the shape of learning curves.

Needs the data folder (``$PMFNAS_DATA``, else ``../shared/data``) with ``darts/yahpo_nb301/``
and onnxruntime; error tests work on small copies of the files under ``tmp_path``.
"""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from pmfnas.errors import ArchitectureError, ConfigError, DataError, FidelityError
from pmfnas.spaces.darts import DartsSpace, format_genotype, genotype
from pmfnas.spaces.darts.costs import params_and_flops
from pmfnas.spaces.darts.published import PUBLISHED
from pmfnas.tables.nb301 import (
    CAT_NAMES,
    FILES,
    MAX_EPOCH,
    TARGETS,
    NB301Surrogate,
    default_source,
    naslib_genotype,
    surrogate_folder,
)

PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"


def random_genotypes(seed: int, count: int) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [DartsSpace().sample(rng) for _ in range(count)]


DARTS_V2 = genotype.parse(PUBLISHED["DARTS_V2"])


# --- published and reference values --------------------------------------------------------


def test_darts_v2_matches_yahpo_gyms_published_curve(surrogate) -> None:
    epochs = [1, 10, 50, 98]
    out = surrogate.predict([DARTS_V2] * 4, epochs)
    # the published values are rounded to two digits; within one point of them tells the
    # right column order from the encoding file's alphabetical one (63.3 at epoch 1)
    assert out["val_acc"] / 100 == pytest.approx([0.61, 0.77, 0.89, 0.93], abs=0.01)
    assert np.all(np.diff(out["runtime"]) > 0)  # time of training up to the epoch


def test_epoch_98_agrees_with_naslibs_nb301_accuracies(surrogate, data_dir) -> None:
    path = data_dir / "darts" / "naslib_zc_nasbench301.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    records = json.loads(path.read_text())["cifar10"]
    archs, accs = [], []
    for key, record in records.items():
        archs.append(naslib_genotype(key))
        accs.append(record["val_accuracy"])
    assert len(archs) == 725
    predicted = surrogate.predict(archs, MAX_EPOCH)["val_acc"]
    assert spearmanr(predicted, accs).statistic > 0.55  # 0.59 measured
    assert abs(np.mean(predicted - np.array(accs))) < 1.5  # -0.70 points measured


def test_naslib_keys_decode_as_its_network_sizes_tell(data_dir) -> None:
    path = data_dir / "darts" / "naslib_zc_nasbench301.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    records = json.loads(path.read_text())["cifar10"]
    archs = [naslib_genotype(key) for key in records]
    ours = [params_and_flops(a, channels=32, cells_per_stage=2)[0] for a in archs]
    theirs = [record["params"]["score"] for record in records.values()]
    assert spearmanr(ours, theirs).statistic > 0.999  # 1.000: 8 cells at C=32
    cell = "[" + ", ".join(["(0, 0)", "(1, 2)"] * 4) + "]"
    assert format_genotype(naslib_genotype(f"[{cell}, {cell}]")).count("skip_connect") == 8
    unknown_op = cell.replace("(1, 2)", "(1, 7)", 1)
    for bad in (f"[{unknown_op}, {cell}]", f"[{cell}]", "nope", "[[1, 2]]"):
        with pytest.raises(ArchitectureError):
            naslib_genotype(bad)


def test_random_genotypes_give_sensible_values(surrogate) -> None:
    out = surrogate.predict(random_genotypes(0, 200), MAX_EPOCH)
    assert set(out) == set(TARGETS)
    assert np.all((out["val_acc"] > 88) & (out["val_acc"] < 95))
    assert 91 < out["val_acc"].mean() < 93.5
    assert np.all((out["val_loss"] > 0.1) & (out["val_loss"] < 0.6))
    assert np.all((out["runtime"] > 1000) & (out["runtime"] < 20000))  # seconds for 98 epochs
    assert 3000 < out["runtime"].mean() < 8000


def test_curves_rise_on_average(surrogate) -> None:
    archs = random_genotypes(1, 40)
    epochs = np.arange(1, MAX_EPOCH + 1)
    rows = [arch for arch in archs for _ in epochs]
    out = surrogate.predict(rows, np.tile(epochs, len(archs)).tolist())
    acc = out["val_acc"].reshape(len(archs), len(epochs))
    runtime = out["runtime"].reshape(len(archs), len(epochs))
    assert np.all(np.diff(acc.mean(axis=0)) > 0)
    assert np.mean(np.diff(acc, axis=1) > 0) > 0.95
    assert np.all(acc[:, -1] - acc[:, 0] > 20)
    # The surrogate's runtime rises until about epoch 90, then flattens and may dip slightly
    # (for about half of the genotypes epoch 98 is predicted a little below epoch 97):
    assert np.all(np.diff(runtime.mean(axis=0)[:90]) > 0)
    assert np.all(runtime[:, -1] > 0.9 * runtime.max(axis=1))


# --- behaviour -------------------------------------------------------------------------------


def test_batch_equals_one_by_one_and_is_deterministic(surrogate) -> None:
    archs = random_genotypes(2, 30)
    epochs = [1 + (7 * i) % MAX_EPOCH for i in range(len(archs))]
    batch = surrogate.predict(archs, epochs)
    again = surrogate.predict(archs, epochs)
    for key in TARGETS:
        np.testing.assert_array_equal(batch[key], again[key])
        one_by_one = [surrogate.predict([a], e)[key][0] for a, e in zip(archs, epochs, strict=True)]
        np.testing.assert_allclose(batch[key], one_by_one, rtol=1e-6, atol=0)
    scalar = surrogate.predict(archs, 50)
    listed = surrogate.predict(archs, [50] * len(archs))
    for key in TARGETS:
        np.testing.assert_array_equal(scalar[key], listed[key])
        assert scalar[key].dtype == np.float64 and scalar[key].shape == (len(archs),)


def test_no_genotypes_give_empty_arrays(surrogate) -> None:
    out = surrogate.predict([], 10)
    assert {key: value.shape for key, value in out.items()} == dict.fromkeys(TARGETS, (0,))
    assert surrogate.encode([]).shape == (0, len(CAT_NAMES))


def test_pickles_as_its_folder(surrogate, nb301_dir) -> None:
    copy = pickle.loads(pickle.dumps(surrogate))
    assert copy.source == surrogate.source == nb301_dir
    archs = random_genotypes(3, 5)
    np.testing.assert_array_equal(
        copy.predict(archs, 20)["val_acc"], surrogate.predict(archs, 20)["val_acc"]
    )


@pytest.mark.parametrize("epochs", [0, MAX_EPOCH + 1, -3, 1.5, 50.0, True, "10", None])
def test_bad_epochs_are_fidelity_errors(surrogate, epochs) -> None:
    with pytest.raises(FidelityError):
        surrogate.predict([DARTS_V2], epochs)


def test_epochs_must_match_the_genotypes(surrogate) -> None:
    with pytest.raises(FidelityError, match="2 epochs given for 3 genotypes"):
        surrogate.predict([DARTS_V2] * 3, [1, 2])
    with pytest.raises(FidelityError):
        surrogate.predict([DARTS_V2] * 2, [1, 99])


def _replaced(arch: tuple[int, ...], position: int, value: int) -> tuple[int, ...]:
    return (*arch[:position], value, *arch[position + 1 :])


@pytest.mark.parametrize(
    "bad",
    [
        DARTS_V2[:-1],  # too short
        _replaced(DARTS_V2, 1, len(genotype.OPS)),  # op out of range
        _replaced(DARTS_V2, 4, 1),  # node 3 taking node 1 twice
        _replaced(_replaced(DARTS_V2, 12, 3), 14, 0),  # node 5's inputs decreasing
        _replaced(DARTS_V2, 14, 5),  # node 5 taking itself
        "DARTS_V2",
    ],
)
def test_bad_genotypes_are_architecture_errors(surrogate, bad) -> None:
    with pytest.raises(ArchitectureError):
        surrogate.predict([bad], 10)
    with pytest.raises(ArchitectureError):
        surrogate.encode([DARTS_V2, bad])


def test_one_genotype_instead_of_a_sequence_is_refused(surrogate) -> None:
    with pytest.raises(ArchitectureError, match="got one genotype"):
        surrogate.predict(DARTS_V2, 10)


# --- encoding ----------------------------------------------------------------------------------


def _yahpo_style_row(arch: tuple[int, ...], encoding: dict) -> list[int]:
    """An independent encoding: a configuration by names, as YAHPO Gym's config space writes it
    (active edges and the inputs of nodes 3-5), the rest '#na#', coded in ``cat_names`` order."""
    config = {}
    for c, cell in enumerate(genotype.CELLS):
        for node in range(genotype.NODES):
            a, op_a, b, op_b = arch[genotype.node_slice(c, node)]
            for source, op in ((a, op_a), (b, op_b)):
                edge = {0: 0, 1: 2, 2: 5, 3: 9}[node] + source
                config[f"{PREFIX}edge_{cell}_{edge}"] = genotype.OPS[op]
            if node > 0:
                config[f"{PREFIX}inputs_node_{cell}_{node + 2}"] = f"{a}_{b}"
    names = [f"{PREFIX}edge_{cell}_{e}" for cell in genotype.CELLS for e in range(14)]
    names += [f"{PREFIX}inputs_node_{cell}_{n}" for cell in genotype.CELLS for n in (3, 4, 5)]
    return [encoding[name][config.get(name, "#na#")] for name in names]


def test_encoding_follows_yahpo_gyms_columns(surrogate, nb301_dir) -> None:
    encoding = json.loads((nb301_dir / "encoding_v2.json").read_text())
    archs = [DARTS_V2, *random_genotypes(4, 50)]
    rows = surrogate.encode(archs)
    assert rows.dtype == np.int32 and rows.shape == (len(archs), 34)
    assert rows.tolist() == [_yahpo_style_row(arch, encoding) for arch in archs]


def test_inactive_edges_are_na(surrogate, nb301_dir) -> None:
    encoding = json.loads((nb301_dir / "encoding_v2.json").read_text())
    row = surrogate.encode([DARTS_V2])[0]
    decoded = {
        name: next(value for value, code in encoding[name].items() if code == row[i])
        for i, name in enumerate(CAT_NAMES)
    }
    short = {name.removeprefix(PREFIX): value for name, value in decoded.items()}
    # DARTS-V2's normal cell: node 2 <- 0, 1; node 3 <- 0, 1; node 4 <- 0, 1; node 5 <- 0, 2
    active_normal = {0: "sep_conv_3x3", 1: "sep_conv_3x3", 2: "sep_conv_3x3", 3: "sep_conv_3x3"}
    active_normal |= {5: "skip_connect", 6: "sep_conv_3x3", 9: "skip_connect", 11: "dil_conv_3x3"}
    for edge in range(14):
        assert short[f"edge_normal_{edge}"] == active_normal.get(edge, "#na#")
    assert [short[f"inputs_node_normal_{n}"] for n in (3, 4, 5)] == ["0_1", "0_1", "0_2"]
    assert [short[f"inputs_node_reduce_{n}"] for n in (3, 4, 5)] == ["1_2", "0_2", "1_2"]
    for cell in genotype.CELLS:
        edges = [short[f"edge_{cell}_{e}"] for e in range(14)]
        assert edges.count("#na#") == 6  # 14 edges, 8 used


# --- errors ------------------------------------------------------------------------------------


def test_default_source_needs_pmfnas_data(monkeypatch) -> None:
    monkeypatch.delenv("PMFNAS_DATA", raising=False)
    with pytest.raises(DataError, match="PMFNAS_DATA is not set"):
        default_source()
    monkeypatch.setenv("PMFNAS_DATA", "/data")
    assert default_source() == Path("/data/darts/yahpo_nb301")
    assert surrogate_folder(Path("/other")) == Path("/other/darts/yahpo_nb301")
    assert surrogate_folder(None) is None  # the surrogate then reads PMFNAS_DATA's


def test_missing_folder_or_files_are_data_errors(nb301_dir, tmp_path) -> None:
    with pytest.raises(DataError, match="no such NAS-Bench-301 surrogate folder"):
        NB301Surrogate(tmp_path / "absent")
    for name in FILES[1:]:
        shutil.copy(nb301_dir / name, tmp_path / name)
    with pytest.raises(DataError, match=r"missing: model_v2\.onnx") as error:
        NB301Surrogate(tmp_path)
    assert "\n" not in str(error.value)


def test_corrupt_files_are_data_errors(nb301_dir, tmp_path) -> None:
    for name in FILES:
        shutil.copy(nb301_dir / name, tmp_path / name)
    (tmp_path / "model_v2.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(DataError, match="not a readable ONNX model"):
        NB301Surrogate(tmp_path)
    (tmp_path / "encoding_v2.json").write_text("{}")
    with pytest.raises(DataError, match="not YAHPO Gym's nb301 encoding"):
        NB301Surrogate(tmp_path)


def test_missing_onnxruntime_is_a_config_error(nb301_dir, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'pmfnas\[onnx\]'"):
        NB301Surrogate(nb301_dir)
