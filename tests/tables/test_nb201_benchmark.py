"""NAS-Bench-201 tables checked against facts published by the benchmark authors (PROVENANCE.md).

The bundle is read once per session into a temporary cache; error and cache tests work on small
copies of pieces of the data under ``tmp_path`` (never on the shared data folder).
"""

from __future__ import annotations

import bz2
import csv
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from pmfnas.errors import ArchitectureError, DataError, NotAvailableError, RegistryError
from pmfnas.safe_pickle import load_pickle
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.tables.nb201 import METRICS, NB201_DATASETS, NB201Benchmark
from pmfnas.tables.nb201_sources import (
    BUNDLE_CSV,
    BUNDLE_FILES,
    FALLBACK_TIME_RATIOS,
    naslib_cell,
    read_zen_zip,
)

OFFICIAL = (0, 11, 284)
"""The architectures whose official NATS-Bench records are in ``nats-tss-format/``."""


@pytest.fixture
def archive_copy(nb201_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the 3-record official archive (small: four bz2 files)."""
    return Path(shutil.copytree(nb201_dir / "nats-tss-format", tmp_path / "archive"))


# --- published facts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "best_index", "best_test"),
    [("cifar10", 6111, 94.37), ("cifar100", 9930, 73.51), ("ImageNet16-120", 857, 47.31)],
)
def test_best_test_accuracy(bench, dataset, best_index, best_test) -> None:
    test = bench.array("test_acc_200", dataset)
    assert bench.value("test_acc_200", dataset, best_index) == pytest.approx(best_test, abs=0.01)
    assert np.nanmax(test) == pytest.approx(best_test, abs=0.01)
    assert test[int(np.nanargmax(test))] == test[best_index]  # ties share the maximum


def test_best_cifar10_valid_validation(bench) -> None:
    val = bench.array("val_acc_200", "cifar10")
    assert int(np.nanargmax(val)) == 6111
    assert np.nanmax(val) == pytest.approx(91.61, abs=0.01)


@pytest.mark.parametrize(
    ("dataset", "rho"), [("cifar10", 0.87), ("cifar100", 0.82), ("ImageNet16-120", 0.81)]
)
def test_12_epoch_rank_correlation(bench, dataset, rho) -> None:
    measured = spearmanr(bench.array("test_acc_12", dataset), bench.array("test_acc_200", dataset))
    assert round(float(measured.statistic), 2) == rho


def test_mean_costs_of_the_peer_protocol(bench) -> None:
    """docs/nb201.md: mean 12/200-epoch costs 110/1,828 s (C10), 219/3,656 s (C100), 666/11,096 s."""
    expected = {"cifar10": (110, 1828), "cifar100": (219, 3656), "ImageNet16-120": (666, 11096)}
    for dataset, (cost12, cost200) in expected.items():
        per_epoch = float(np.mean(bench.array("train_time_per_epoch", dataset)))
        assert 12 * per_epoch == pytest.approx(cost12, abs=1)
        assert 200 * per_epoch == pytest.approx(cost200, rel=0.002)


def test_cifar10_values_are_the_published_csv_rows(bench, nb201_dir) -> None:
    space = NB201Space()
    with (nb201_dir / "nb201_cifar10valid_avg.csv").open(newline="") as f:
        for row in list(csv.DictReader(f))[:50]:
            index = space.index(space.parse(row["arch_str"]))
            for metric, column in (
                ("val_acc_200", "valid-accuracy"),
                ("train_time_per_epoch", "train-per-time"),
            ):
                assert bench.value(metric, "cifar10", index) == pytest.approx(
                    float(row[column]), rel=1e-6
                )


def test_naslib_tuple_mapping() -> None:
    """NASLib ids (0 skip, 1 none, 2 conv3, 3 conv1, 4 pool) on edges 01, 02, 03, 12, 13, 23."""
    expected = (
        "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    )
    assert naslib_cell("(1, 0, 2, 3, 4, 0)") == NB201Space().parse(expected)


def test_zen_zip_is_in_nats_order(bench, nb201_dir) -> None:
    """NASLib's cifar10 accuracy (one seed) must rank cells like the cifar10-valid CSV does."""
    zen = read_zen_zip(nb201_dir / "naslib_nb201_zen.zip")
    rho = spearmanr(zen["cifar10"]["val_accuracy"], bench.array("val_acc_200", "cifar10")).statistic
    assert rho > 0.98
    for dataset in ("cifar100", "ImageNet16-120"):
        rho = spearmanr(bench.array("val_acc_200", dataset), bench.array("test_acc_200", dataset))
        assert rho.statistic > 0.95


# --- time ratios ----------------------------------------------------------------------------


def test_time_ratios_measured_on_the_official_records(bench, nb201_dir) -> None:
    """Per-epoch time of each dataset over cifar10-valid's, read straight from the records."""
    for index in OFFICIAL:
        runs = load_pickle(nb201_dir / "nats-tss-format" / f"{index:06d}.pickle.pbz2")["200"][
            "all_results"
        ]
        per_epoch = {
            ds: float(np.mean(list(r["train_times"].values()))) for (ds, _), r in runs.items()
        }
        for dataset in ("cifar100", "ImageNet16-120"):
            ratio = per_epoch[dataset] / per_epoch["cifar10-valid"]
            assert bench.time_ratios[dataset] == pytest.approx(ratio, rel=1e-9)
    assert bench.time_ratios == pytest.approx(
        dict(zip(NB201_DATASETS, FALLBACK_TIME_RATIOS, strict=True))
    )
    assert bench.time_ratios == pytest.approx(
        {"cifar10": 1.0, "cifar100": 2.0, "ImageNet16-120": 6.07}, abs=0.005
    )


# --- the official archive layout ------------------------------------------------------------


def test_archive_reproduces_the_csv_values(bench, nb201_dir, cache_dir) -> None:
    archive = NB201Benchmark.load(nb201_dir / "nats-tss-format", cache_dir=cache_dir)
    assert archive.kind == "archive" and bench.kind == "bundle"
    for index in OFFICIAL:
        for dataset in NB201_DATASETS:
            for metric in ("test_acc_200", "val_acc_12", "test_acc_12", "train_time_per_epoch"):
                assert archive.value(metric, dataset, index) == pytest.approx(
                    bench.value(metric, dataset, index), rel=1e-6
                )
        assert archive.value("val_acc_200", "cifar10", index) == pytest.approx(
            bench.value("val_acc_200", "cifar10", index), rel=1e-6
        )
    assert archive.available("test_acc_200", "cifar10") == len(OFFICIAL)
    assert archive.available("val_acc_12", "ImageNet16-120") == len(OFFICIAL)
    assert archive.available("zen_score", "cifar10") == 0
    with pytest.raises(NotAvailableError, match=r"test_acc_200 on cifar100 .* architecture 1\b"):
        archive.value("test_acc_200", "cifar100", 1)


def test_archive_validation_metrics_follow_the_record(nb201_dir, cache_dir) -> None:
    """Validation signals: cifar10 from cifar10-valid's ``x-valid``, the others their ``x-valid``."""
    archive = NB201Benchmark.load(nb201_dir / "nats-tss-format", cache_dir=cache_dir)
    record = load_pickle(nb201_dir / "nats-tss-format" / "000284.pickle.pbz2")
    for schedule, metric in (("12", "val_acc_12"), ("200", "val_acc_200")):
        runs, key = record[schedule]["all_results"], f"x-valid@{int(schedule) - 1}"
        for dataset, source in zip(
            NB201_DATASETS, ("cifar10-valid", "cifar100", "ImageNet16-120"), strict=True
        ):
            expected = [r["eval_acc1es"][key] for (ds, _), r in runs.items() if ds == source]
            assert archive.value(metric, dataset, 284) == pytest.approx(np.mean(expected), rel=1e-6)
    assert len([ds for ds, _ in record["12"]["all_results"] if ds == "cifar10-valid"]) == 2


def test_archive_progress_and_corrupt_record(archive_copy, tmp_path) -> None:
    calls: list[tuple[int, int]] = []
    NB201Benchmark.load(
        archive_copy, cache_dir=tmp_path / "cache", progress=lambda *a: calls.append(a)
    )
    assert calls[-1] == (4, 4)
    (archive_copy / "000011.pickle.pbz2").write_bytes(b"BZh9 not really bz2")
    with pytest.raises(DataError, match=r"000011\.pickle\.pbz2"):
        NB201Benchmark.load(archive_copy, cache_dir=tmp_path / "cache")


def test_archive_record_under_the_wrong_index(archive_copy, tmp_path) -> None:
    os.replace(archive_copy / "000011.pickle.pbz2", archive_copy / "000012.pickle.pbz2")
    with pytest.raises(DataError, match=r"000012.*not architecture 12"):
        NB201Benchmark.load(archive_copy, cache_dir=tmp_path / "cache")


# --- the cache ------------------------------------------------------------------------------


def test_cache_round_trip_is_equal(bench, nb201_dir, cache_dir) -> None:
    # how fast a cached load is, benchmarks/search_speed.py measures; here: that it is one
    again = NB201Benchmark.load(nb201_dir, cache_dir=cache_dir)
    assert again.from_cache
    for metric in METRICS:
        for dataset in NB201_DATASETS:
            np.testing.assert_array_equal(
                again.array(metric, dataset), bench.array(metric, dataset)
            )
    assert again.time_ratios == bench.time_ratios


def test_changed_source_is_rebuilt(archive_copy, tmp_path) -> None:
    cache = tmp_path / "cache"
    assert not NB201Benchmark.load(archive_copy, cache_dir=cache).from_cache
    assert NB201Benchmark.load(archive_copy, cache_dir=cache).from_cache
    record = archive_copy / "000284.pickle.pbz2"
    os.utime(record, ns=(record.stat().st_atime_ns, record.stat().st_mtime_ns + 10**9))
    assert not NB201Benchmark.load(archive_copy, cache_dir=cache).from_cache
    record.unlink()
    fewer = NB201Benchmark.load(archive_copy, cache_dir=cache)
    assert not fewer.from_cache and fewer.available("test_acc_200", "cifar10") == 2
    assert len(list(cache.glob("*.npz"))) == 1  # stale caches of this source are removed


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_cache_is_rebuilt(archive_copy, tmp_path, damage) -> None:
    cache = tmp_path / "cache"
    good = NB201Benchmark.load(archive_copy, cache_dir=cache)
    (path,) = cache.glob("*.npz")
    data = path.read_bytes()
    path.write_bytes(
        {"garbage": b"not a zip" * 100, "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = NB201Benchmark.load(archive_copy, cache_dir=cache)
    assert not rebuilt.from_cache
    np.testing.assert_array_equal(
        rebuilt.array("test_acc_200", "cifar10"), good.array("test_acc_200", "cifar10")
    )
    assert NB201Benchmark.load(archive_copy, cache_dir=cache).from_cache


def test_new_format_version_is_rebuilt(archive_copy, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    NB201Benchmark.load(archive_copy, cache_dir=cache)
    monkeypatch.setattr("pmfnas.tables.nb201.FORMAT_VERSION", "nb201-next")
    assert not NB201Benchmark.load(archive_copy, cache_dir=cache).from_cache


def test_cache_dir_from_environment(archive_copy, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PMFNAS_CACHE", str(tmp_path / "env-cache"))
    NB201Benchmark.load(archive_copy)
    assert len(list((tmp_path / "env-cache").glob("nb201-archive-*.npz"))) == 1


# --- queries and errors ---------------------------------------------------------------------


def test_arrays_are_read_only(bench) -> None:
    with pytest.raises(ValueError):
        bench.array("test_acc_200", "cifar10")[0] = 100.0


def test_bundle_12_epoch_accuracies_are_the_official_records(bench, official_12_epoch) -> None:
    """nb201_12epoch_xvalid.csv gives every cell's 12-epoch x-valid accuracy (PROVENANCE.md)."""
    for dataset in NB201_DATASETS:
        assert bench.available("val_acc_12", dataset) == 15625
        assert bench.available("test_acc_12", dataset) == 15625
    for (index, dataset), (val, test) in official_12_epoch.items():
        assert bench.value("val_acc_12", dataset, index) == pytest.approx(val, rel=1e-6)
        assert bench.value("test_acc_12", dataset, index) == pytest.approx(test, rel=1e-6)
        assert val != pytest.approx(test, rel=1e-3)  # two different splits, not one column twice


def test_unknown_names_and_indices(bench) -> None:
    with pytest.raises(RegistryError, match=r"unknown nb201 metric 'accuracy'.*val_acc_200"):
        bench.value("accuracy", "cifar10", 0)
    with pytest.raises(RegistryError, match=r"unknown nb201 dataset 'mnist'.*ImageNet16-120"):
        bench.array("test_acc_200", "mnist")
    for index in (-1, 15625):
        with pytest.raises(ArchitectureError):
            bench.value("test_acc_200", "cifar10", index)


def test_data_folder_must_be_given(monkeypatch) -> None:
    monkeypatch.delenv("PMFNAS_DATA", raising=False)
    with pytest.raises(DataError, match="PMFNAS_DATA is not set"):
        NB201Benchmark.load()


def test_bundle_without_the_12_epoch_validation_file(nb201_dir, tmp_path) -> None:
    """A bundle from before nb201_12epoch_xvalid.csv is refused by name, not read half."""
    folder = _bundle_with(nb201_dir, tmp_path / "bundle", BUNDLE_CSV["val12"], None)
    with pytest.raises(DataError, match=r"missing: nb201_12epoch_xvalid\.csv"):
        NB201Benchmark.load(folder, cache_dir=tmp_path / "cache")


def test_unrecognised_folders(tmp_path) -> None:
    with pytest.raises(DataError, match="no such"):
        NB201Benchmark.load(tmp_path / "absent")
    (tmp_path / "nb201_test200_mean.csv").write_text("x\n")
    with pytest.raises(DataError, match=r"meta\.pickle\.pbz2.*missing: nb201_test12"):
        NB201Benchmark.load(tmp_path)


def _bundle_with(nb201_dir: Path, folder: Path, name: str, data: bytes | None) -> Path:
    """A bundle folder linking to the shared files, except ``name`` which holds ``data``
    (``None``: left out)."""
    folder.mkdir()
    for other in BUNDLE_FILES:
        (folder / other).symlink_to(nb201_dir / other)
    (folder / name).unlink()
    if data is not None:
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (
            lambda text: text[: text.index(b",", len(text) // 2)],
            r"line \d+: wrong number of fields",
        ),
        (
            lambda text: text[: text.index(b"\n", len(text) // 2) + 1],
            r"of 15625 architectures \(truncated",
        ),
        (lambda text: text.replace(b"94.", b"9x.", 1), r"line \d+: bad row"),
        (lambda text: text.replace(b"ArchitectureString", b"Arch", 1), "missing column"),
        (lambda text: b"", "missing column"),
    ],
)
def test_broken_csv(nb201_dir, tmp_path, cut, message) -> None:
    name = "nb201_test200_mean.csv"
    folder = _bundle_with(
        nb201_dir, tmp_path / "bundle", name, cut((nb201_dir / name).read_bytes())
    )
    with pytest.raises(DataError, match=rf"nb201_test200_mean\.csv.*{message}"):
        NB201Benchmark.load(folder, cache_dir=tmp_path / "cache")


def test_broken_zen_zip(nb201_dir, tmp_path) -> None:
    data = (nb201_dir / "naslib_nb201_zen.zip").read_bytes()
    path = tmp_path / "naslib_nb201_zen.zip"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"naslib_nb201_zen\.zip.*not a readable zip"):
        read_zen_zip(path)
    with (
        zipfile.ZipFile(nb201_dir / "naslib_nb201_zen.zip") as src,
        zipfile.ZipFile(path, "w") as dst,
    ):
        for member in src.namelist()[:20]:
            dst.writestr(member, src.read(member))
    with pytest.raises(DataError, match=r"naslib_nb201_zen\.zip: \w.* covers \d+ of 15625"):
        read_zen_zip(path)


def test_archive_meta_out_of_order(archive_copy, tmp_path) -> None:
    meta_path = archive_copy / "meta.pickle.pbz2"
    meta = load_pickle(meta_path)
    archs = meta["meta_archs"]
    archs[7], archs[8] = archs[8], archs[7]
    meta_path.write_bytes(bz2.compress(pickle.dumps(meta)))
    with pytest.raises(DataError, match=r"meta\.pickle\.pbz2: entry 7 is not in NATS index order"):
        NB201Benchmark.load(archive_copy, cache_dir=tmp_path / "cache")
