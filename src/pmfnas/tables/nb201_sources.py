"""Readers that turn the two NAS-Bench-201 data layouts into the same dense arrays.

Both readers return ``{metric: float32 array (len(NB201_DATASETS), NUM_ARCHS)}`` in NATS index order
(NaN = not recorded by that source) plus ``time_ratios``, the per-epoch training time of each
dataset relative to CIFAR-10. Every architecture string or NASLib tuple is mapped through
:class:`NB201Space`, never by row position, so a reordered file cannot shift values between cells.

- *bundle*: the published CSV files and NASLib's Zen-score zip (see ``PROVENANCE.md`` of the data);
  the 12-epoch validation accuracies are the x-valid columns of ``nb201_12epoch_xvalid.csv``.
- *archive*: the official NATS-Bench "simple" archive (``meta.pickle.pbz2`` plus one
  ``NNNNNN.pickle.pbz2`` per architecture), read with the restricted unpickler.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.errors import ArchitectureError, DataError
from pmfnas.safe_pickle import load_pickle
from pmfnas.spaces.nb201 import EDGES, NUM_ARCHS, OPS, NB201Space
from pmfnas.types import Arch, Progress

Arrays = dict[str, np.ndarray]
"""Called as ``progress(done, total)`` after each source file is read."""

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")

VAL_ACC_200 = "val_acc_200"
TEST_ACC_200 = "test_acc_200"
VAL_ACC_12 = "val_acc_12"
TEST_ACC_12 = "test_acc_12"
TRAIN_TIME_PER_EPOCH = "train_time_per_epoch"
ZEN_SCORE = "zen_score"
ZEN_TIME = "zen_time"
METRICS: tuple[str, ...] = (
    VAL_ACC_200,
    TEST_ACC_200,
    VAL_ACC_12,
    TEST_ACC_12,
    TRAIN_TIME_PER_EPOCH,
    ZEN_SCORE,
    ZEN_TIME,
)
TIME_RATIOS = "time_ratios"

FALLBACK_TIME_RATIOS: tuple[float, ...] = (1.0, 2.0, 6.068)
"""Per-epoch training time of cifar10 / cifar100 / ImageNet16-120 relative to cifar10-valid, as
measured on the official records of archs 0, 11 and 284 (identical for all three); used only when
no official record is at hand. The tests re-measure them from those records."""

BUNDLE_CSV = {
    "test200": "nb201_test200_mean.csv",
    "test12": "nb201_test12_200_oneseed.csv",
    "c10valid": "nb201_cifar10valid_avg.csv",
    "val12": "nb201_12epoch_xvalid.csv",
}
ZEN_ZIP = "naslib_nb201_zen.zip"
BUNDLE_FILES: tuple[str, ...] = (*BUNDLE_CSV.values(), ZEN_ZIP)
RECORDS_SUBDIR = "nats-tss-format"
"""Official records shipped next to the bundle; used to measure the training-time ratios."""
META_FILE = "meta.pickle.pbz2"
_RECORD_NAME = re.compile(r"(\d{6})\.pickle\.pbz2")

_SPACE = NB201Space()


def _empty_arrays() -> Arrays:
    """All metrics NaN (not recorded) and the fallback time ratios, for a reader to fill in."""
    arrays = {m: np.full((len(NB201_DATASETS), NUM_ARCHS), np.nan, np.float32) for m in METRICS}
    arrays[TIME_RATIOS] = np.array(FALLBACK_TIME_RATIOS)
    return arrays


def record_files(folder: Path) -> list[Path]:
    """The ``NNNNNN.pickle.pbz2`` records of an official archive folder, by index."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:  # faster than Path.iterdir on 15,625 files
        names = sorted(e.name for e in entries if _RECORD_NAME.fullmatch(e.name))
    return [folder / name for name in names]


@functools.cache
def _nats_strings() -> dict[str, int]:
    """Canonical string → NATS index of every cell, in index order (built once, ~0.2 s)."""
    return {_SPACE.format(_SPACE.arch(i)): i for i in range(NUM_ARCHS)}


def arch_index(text: str) -> int:
    """NATS index of an architecture string; :class:`ArchitectureError` if it is not one."""
    index = _nats_strings().get(text)
    return index if index is not None else _SPACE.index(_SPACE.parse(text))


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


# --- the CSV + zip bundle -------------------------------------------------------------------


def _read_csv(path: Path, arch_column: str, columns: list[str]) -> Arrays:
    """Read ``columns`` of a per-architecture CSV into NATS-ordered arrays; all 15,625 required."""
    out = {c: np.full(NUM_ARCHS, np.nan) for c in columns}
    seen = np.zeros(NUM_ARCHS, dtype=bool)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in (arch_column, *columns) if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
            for row in reader:
                if None in row or None in row.values():  # DictReader's marks of a ragged row
                    raise DataError(f"{path}, line {reader.line_num}: wrong number of fields")
                try:
                    index = arch_index(row[arch_column])
                    for c in columns:
                        out[c][index] = float(row[c])
                except (ArchitectureError, ValueError, TypeError, AttributeError) as exc:
                    raise DataError(f"{path}, line {reader.line_num}: bad row ({exc})") from None
                if seen[index]:
                    raise DataError(f"{path}, line {reader.line_num}: architecture listed twice")
                seen[index] = True
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    if not seen.all():
        raise DataError(f"{path}: {seen.sum()} of {NUM_ARCHS} architectures (truncated?)")
    return out


NASLIB_OPS: tuple[str, ...] = (
    "skip_connect",
    "none",
    "nor_conv_3x3",
    "nor_conv_1x1",
    "avg_pool_3x3",
)
NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
_FROM_NASLIB_OP = tuple(OPS.index(op) for op in NASLIB_OPS)
_FROM_NASLIB_EDGE = tuple(NASLIB_EDGES.index(edge) for edge in EDGES)
_ZEN_MEMBER = re.compile(r"(?:.*/)?benchmark--nasbench201--(.+)--\d+\.json")


def naslib_cell(text: str) -> Arch:
    """Our cell for NASLib's tuple string, e.g. ``'(3, 0, 0, 3, 1, 4)'`` (its op ids, its edges)."""
    ids = tuple(int(t) for t in text.strip().strip("()").split(","))
    if len(ids) != len(EDGES) or not all(0 <= i < len(NASLIB_OPS) for i in ids):
        raise ValueError(f"not a NASLib NB201 tuple: {text!r}")
    return tuple(_FROM_NASLIB_OP[ids[e]] for e in _FROM_NASLIB_EDGE)


def read_zen_zip(path: Path) -> dict[str, Arrays]:
    """NASLib's Zen-score zip → ``{dataset: {"val_accuracy", "zen_score", "zen_time": array}}``.

    Every dataset of :data:`NB201_DATASETS` must cover all 15,625 cells. NASLib scores the cells whose
    output is disconnected from the input as -1e8 (the Zen-score is undefined there); that
    published value is kept, so those cells rank last. Despite its name, ``val_accuracy`` matches
    a test split of seed 888 on the official records (cifar10: cifar10-valid ``ori-test@199``;
    cifar100/IN16: ``x-test@199``).
    """
    fields = ("val_accuracy", "zen_score", "zen_time")
    out = {ds: {f: np.full(NUM_ARCHS, np.nan) for f in fields} for ds in NB201_DATASETS}
    seen = {ds: np.zeros(NUM_ARCHS, dtype=bool) for ds in NB201_DATASETS}
    try:
        with zipfile.ZipFile(path) as zf:
            members = [
                (m, match.group(1))
                for m in zf.namelist()
                if (match := _ZEN_MEMBER.fullmatch(m)) and match.group(1) in NB201_DATASETS
            ]
            for member, ds in members:
                try:
                    for rec in json.loads(zf.read(member)):
                        index = _SPACE.index(naslib_cell(rec["arch"]))
                        values = (rec["val_accuracy"], rec["zen"]["score"], rec["zen"]["time"])
                        for f, v in zip(fields, values, strict=True):
                            out[ds][f][index] = float(v)
                        seen[ds][index] = True
                except (ValueError, KeyError, TypeError, ArchitectureError) as exc:
                    raise DataError(f"{path}: bad record in {member} ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable zip ({exc})") from None
    for ds, s in seen.items():
        if not s.all():
            raise DataError(f"{path}: {ds} covers {s.sum()} of {NUM_ARCHS} architectures")
    return out


_BUNDLE_ACCURACIES = {  # metric: (file of BUNDLE_CSV, architecture column, column per dataset)
    TEST_ACC_200: (
        "test200",
        "ArchitectureString",
        [f"{p}TestAccuracy200Epochs" for p in ("CIFAR10", "CIFAR100", "ImageNet")],
    ),
    TEST_ACC_12: (
        "test12",
        "ArchitectureString",
        [f"{p}TestAccuracy12Epochs" for p in ("Cifar10", "Cifar100", "ImageNet16")],
    ),
    VAL_ACC_12: ("val12", "cellstr", [f"{p}-val" for p in ("cifar10", "cifar100", "imagenet")]),
}


def read_bundle(folder: Path, progress: Progress | None = None) -> Arrays:
    """Arrays from the CSV/zip bundle; cifar100/IN16 times are scaled by the measured ratios."""
    total = len(BUNDLE_FILES)
    out = _empty_arrays()
    for done, (metric, (key, arch_column, columns)) in enumerate(_BUNDLE_ACCURACIES.items(), 1):
        values = _read_csv(folder / BUNDLE_CSV[key], arch_column, columns)
        out[metric][:] = list(values.values())
        _report(progress, done, total)
    c10 = _read_csv(
        folder / BUNDLE_CSV["c10valid"], "arch_str", ["valid-accuracy", "train-per-time"]
    )
    out[VAL_ACC_200][0] = c10["valid-accuracy"]
    _report(progress, 4, total)

    zen = read_zen_zip(folder / ZEN_ZIP)
    for d, ds in enumerate(NB201_DATASETS):
        out[ZEN_SCORE][d] = zen[ds]["zen_score"]
        out[ZEN_TIME][d] = zen[ds]["zen_time"]
        if ds != "cifar10":  # cifar10's signal is the 3-seed cifar10-valid mean above
            out[VAL_ACC_200][d] = zen[ds]["val_accuracy"]
    _report(progress, 5, total)

    out[TIME_RATIOS] = read_archive_records(folder / RECORDS_SUBDIR)[TIME_RATIOS]
    out[TRAIN_TIME_PER_EPOCH][:] = np.outer(out[TIME_RATIOS], c10["train-per-time"])
    return out


# --- the official NATS-Bench archive --------------------------------------------------------

_VALID_SPLIT = {
    "cifar10": ("cifar10-valid", "x-valid"),
    "cifar100": ("cifar100", "x-valid"),
    "ImageNet16-120": ("ImageNet16-120", "x-valid"),
}
_TEST_SPLIT = {
    "cifar10": ("cifar10", "ori-test"),
    "cifar100": ("cifar100", "x-test"),
    "ImageNet16-120": ("ImageNet16-120", "x-test"),
}
_ARCHIVE_ACCURACY = {  # metric: (schedule, {our dataset: (archive dataset, evaluation split)})
    VAL_ACC_200: ("200", _VALID_SPLIT),
    TEST_ACC_200: ("200", _TEST_SPLIT),
    VAL_ACC_12: ("12", _VALID_SPLIT),
    TEST_ACC_12: ("12", _TEST_SPLIT),
}
_TIME_DATASET = {
    "cifar10": "cifar10-valid",
    "cifar100": "cifar100",
    "ImageNet16-120": "ImageNet16-120",
}
"""Whose ``train_times`` give a dataset's per-epoch cost: CIFAR-10's search signal is trained on
cifar10-valid (train half only), so its cost is that run's, consistent with the signal."""


def _runs(record: Mapping[str, Any], schedule: str, dataset: str) -> list[Mapping[str, Any]]:
    """The per-seed results of ``dataset`` under ``schedule`` (``'12'`` or ``'200'``)."""
    if schedule not in record:
        return []
    info = record[schedule]
    results = info["all_results"]
    seeds = info["dataset_seed"].get(dataset, [])
    return [results[(dataset, s)] for s in seeds if (dataset, s) in results]


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _time_per_epoch(record: Mapping[str, Any], dataset: str) -> float:
    """Seconds per epoch of the 200-epoch schedule, averaged over its epochs and seeds."""
    return _mean([_mean(list(r["train_times"].values())) for r in _runs(record, "200", dataset)])


def _record_values(record: Mapping[str, Any]) -> dict[str, list[float]]:
    """One record's metrics as ``{metric: [value per dataset]}`` (NaN where not recorded)."""
    out: dict[str, list[float]] = {}
    for metric, (schedule, splits) in _ARCHIVE_ACCURACY.items():
        epoch = int(schedule) - 1
        out[metric] = []
        for ds in NB201_DATASETS:
            archive_ds, split = splits[ds]
            key = f"{split}@{epoch}"
            runs = _runs(record, schedule, archive_ds)
            out[metric].append(
                _mean([r["eval_acc1es"][key] for r in runs if key in r["eval_acc1es"]])
            )
    out[TRAIN_TIME_PER_EPOCH] = [
        _time_per_epoch(record, _TIME_DATASET[ds]) for ds in NB201_DATASETS
    ]
    return out


def _read_record(path: Path, index: int, expected: str | None) -> dict[str, list[float]]:
    record = load_pickle(path)
    try:
        arch_str = next(record[s]["arch_str"] for s in ("200", "12") if s in record)
        if arch_index(arch_str) != index or expected not in (None, arch_str):
            raise DataError(f"{path}: holds {arch_str}, not architecture {index}")
        return _record_values(record)
    except (KeyError, TypeError, AttributeError, StopIteration, ArchitectureError) as exc:
        raise DataError(f"{path}: not an NATS-Bench record ({type(exc).__name__}: {exc})") from None


def read_archive_records(
    folder: Path,
    meta_archs: list[str] | None = None,
    progress: Progress | None = None,
    done: int = 0,
    total: int | None = None,
) -> Arrays:
    """Arrays filled from every ``NNNNNN.pickle.pbz2`` in ``folder``; the rest stays NaN.

    ``time_ratios`` are measured on the records: the mean over architectures of each dataset's
    per-epoch training time divided by cifar10-valid's.
    """
    out = _empty_arrays()
    times = np.full((len(NB201_DATASETS), NUM_ARCHS), np.nan)  # float64, for exact ratios
    files = record_files(folder)
    total = total if total is not None else len(files)
    for i, path in enumerate(files, start=done + 1):
        index = int(path.name[:6])
        if index >= NUM_ARCHS:
            raise DataError(f"{path}: index {index} is outside the {NUM_ARCHS} architectures")
        expected = meta_archs[index] if meta_archs is not None else None
        values = _read_record(path, index, expected)
        for metric, column in values.items():
            out[metric][:, index] = column
        times[:, index] = values[TRAIN_TIME_PER_EPOCH]
        _report(progress, i, total)
    measured = np.isfinite(times).all(axis=0)
    if measured.any():
        out[TIME_RATIOS] = (times[:, measured] / times[0, measured]).mean(axis=1)
    return out


def read_archive(folder: Path, progress: Progress | None = None) -> Arrays:
    """Arrays from an official NATS-Bench archive folder (any subset of the 15,625 records)."""
    meta = load_pickle(folder / META_FILE)
    try:
        archs = list(meta["meta_archs"])
    except (KeyError, TypeError) as exc:
        raise DataError(f"{folder / META_FILE}: no 'meta_archs' ({exc})") from None
    if len(archs) != NUM_ARCHS:
        raise DataError(f"{folder / META_FILE}: {len(archs)} architectures, expected {NUM_ARCHS}")
    if archs != list(_nats_strings()):
        index = next(
            i for i, (a, b) in enumerate(zip(archs, _nats_strings(), strict=True)) if a != b
        )
        raise DataError(f"{folder / META_FILE}: entry {index} is not in NATS index order")
    total = len(record_files(folder)) + 1
    _report(progress, 1, total)
    return read_archive_records(folder, archs, progress, done=1, total=total)
