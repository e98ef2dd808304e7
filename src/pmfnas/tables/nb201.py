"""NAS-Bench-201 as dense arrays: every metric of the 15,625 cells × 3 datasets in NATS index order.

:meth:`NB201Benchmark.load` reads either the CSV/zip bundle or an official NATS-Bench archive
(see :mod:`pmfnas.tables.nb201_sources`) once into a compact ``.npz`` cache; later loads take
milliseconds, and a query is two dictionary look-ups and an array index. A value the source does
not record is NaN in :meth:`~NB201Benchmark.array` and a :class:`NotAvailableError` from
:meth:`~NB201Benchmark.value`, never a guess.

Metrics (per dataset; cifar10's validation signal is the cifar10-valid split):

- ``val_acc_200``: validation accuracy after 200 epochs, the search signal. Bundle: cifar10 =
  cifar10-valid ``valid-accuracy`` (3-seed mean), cifar100/ImageNet16-120 = NASLib
  ``val_accuracy`` (one seed), as in the peers' protocol. Caution: on the three official records
  NASLib's number equals seed 888's ``x-test@199``, i.e. the test half, the split of
  ``test_acc_200``, not ``x-valid``. Archive: ``x-valid@199`` mean over seeds.
- ``test_acc_200``: test accuracy after 200 epochs (3-seed mean), for reports only.
- ``val_acc_12``: validation accuracy after the 12-epoch schedule (cifar10-valid / cifar100 /
  ImageNet16-120 ``x-valid@11``, mean over seeds), the default 12-epoch search signal. Bundle:
  the ``*-val`` columns of ``nb201_12epoch_xvalid.csv``.
- ``test_acc_12``: **test** accuracy after the 12-epoch schedule (one seed); the 12-epoch signal
  of the peers' protocol (docs/nb201.md), which predates the x-valid file.
- ``train_time_per_epoch``: seconds per training epoch. Bundle: cifar10-valid's time, times the
  per-dataset ratio measured on the official records (:attr:`NB201Benchmark.time_ratios`).
- ``zen_score``, ``zen_time``: NASLib's Zen-score proxy and its computing time; bundle only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from pmfnas.errors import ArchitectureError, DataError, NotAvailableError, RegistryError
from pmfnas.spaces.nb201 import NUM_ARCHS, NB201Space
from pmfnas.tables import nb201_sources as src
from pmfnas.tables.cache import Arrays, fingerprint, load_or_build
from pmfnas.tables.nb201_sources import (
    METRICS,
    NB201_DATASETS,
    TEST_ACC_12,
    TEST_ACC_200,
    TRAIN_TIME_PER_EPOCH,
    VAL_ACC_12,
    VAL_ACC_200,
    ZEN_SCORE,
    ZEN_TIME,
)
from pmfnas.types import Progress

__all__ = [
    "METRICS",
    "NATS_BUDGETS",
    "NB201_DATASETS",
    "TEST_ACC_12",
    "TEST_ACC_200",
    "TRAIN_TIME_PER_EPOCH",
    "VAL_ACC_12",
    "VAL_ACC_200",
    "ZEN_SCORE",
    "ZEN_TIME",
    "NB201Benchmark",
    "default_source",
]

NATS_BUDGETS = {"cifar10": 20000.0, "cifar100": 40000.0, "ImageNet16-120": 120000.0}
"""Simulated seconds per search in NATS-Bench and the peers' protocol: the default budget of a tabular search."""

FORMAT_VERSION = "nb201-2"
"""Bump when the arrays' meaning or layout changes, so old caches are rebuilt."""

Kind = Literal["bundle", "archive"]


def default_source() -> Path:
    """``$PMFNAS_DATA/nb201``; a :class:`DataError` when ``PMFNAS_DATA`` is not set."""
    data = os.environ.get("PMFNAS_DATA")
    if not data:
        raise DataError("PMFNAS_DATA is not set: set it to the data folder that holds nb201/")
    return Path(data) / "nb201"


def _detect(source: Path) -> tuple[Kind, list[Path]]:
    """The layout of ``source`` and the files its cache key covers."""
    if not source.is_dir():
        raise DataError(f"{source}: no such NAS-Bench-201 data folder")
    if (source / src.META_FILE).is_file():
        return "archive", [source / src.META_FILE, *src.record_files(source)]
    bundle = [source / name for name in src.BUNDLE_FILES]
    missing = [p.name for p in bundle if not p.is_file()]
    if not missing:
        return "bundle", bundle + src.record_files(source / src.RECORDS_SUBDIR)
    raise DataError(
        f"{source}: not a NAS-Bench-201 folder: expected either {src.META_FILE} with "
        f"NNNNNN.pickle.pbz2 records (official archive) or {', '.join(src.BUNDLE_FILES)} "
        f"(missing: {', '.join(missing)})"
    )


def _check(arrays: Arrays) -> None:
    for metric in METRICS:
        a = arrays.get(metric)
        if a is None or a.shape != (len(NB201_DATASETS), NUM_ARCHS) or a.dtype != np.float32:
            raise ValueError(f"array {metric!r} missing or of the wrong shape")
    if arrays.get(src.TIME_RATIOS, np.empty(0)).shape != (len(NB201_DATASETS),):
        raise ValueError("time ratios missing")


class NB201Benchmark:
    """Read-only NAS-Bench-201 tables; build with :meth:`load`."""

    def __init__(self, arrays: Arrays, source: Path, kind: Kind, from_cache: bool) -> None:
        self.space = NB201Space()
        """The space the tables index (their rows follow its NATS order)."""
        self.source = source
        self.kind: Kind = kind
        self.from_cache = from_cache
        """Whether :meth:`load` found a valid cache (else it read the source files)."""
        self.time_ratios: dict[str, float] = dict(
            zip(NB201_DATASETS, map(float, arrays[src.TIME_RATIOS]), strict=True)
        )
        """Per-epoch training time of each dataset relative to cifar10 (cifar10-valid)."""
        self._rows = {
            (metric, ds): arrays[metric][d]
            for metric in METRICS
            for d, ds in enumerate(NB201_DATASETS)
        }

    @classmethod
    def load(
        cls,
        source: Path | str | None = None,
        *,
        cache_dir: Path | str | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> NB201Benchmark:
        """Load ``source`` (default ``$PMFNAS_DATA/nb201``) through the ``.npz`` cache.

        The first load of a source reads its files (about a second for the bundle; about 17 ms
        per record, so 4–5 minutes, for the full official archive of 15,625 records;
        ``progress(done, total)`` is called per file); later loads read the cache, in
        milliseconds, until a source file changes. ``rebuild`` ignores an existing cache.
        """
        source = Path(source) if source is not None else default_source()
        kind, files = _detect(source)
        reader = src.read_archive if kind == "archive" else src.read_bundle
        arrays, from_cache = load_or_build(
            f"nb201-{kind}",
            source,
            fingerprint(files, FORMAT_VERSION),
            lambda: reader(source, progress),
            _check,
            cache_dir=Path(cache_dir) if cache_dir is not None else None,
            rebuild=rebuild,
        )
        return cls(arrays, source, kind, from_cache)

    def _row(self, metric: str, dataset: str) -> np.ndarray:
        try:
            return self._rows[(metric, dataset)]
        except KeyError:
            if metric not in METRICS:
                known = ", ".join(METRICS)
                raise RegistryError(f"unknown nb201 metric {metric!r} (known: {known})") from None
            known = ", ".join(NB201_DATASETS)
            raise RegistryError(f"unknown nb201 dataset {dataset!r} (known: {known})") from None

    def array(self, metric: str, dataset: str) -> np.ndarray:
        """All 15,625 values of ``metric`` on ``dataset`` (read-only, float32, NaN = not recorded)."""
        return self._row(metric, dataset)

    def value(self, metric: str, dataset: str, index: int) -> float:
        """One recorded value; :class:`NotAvailableError` if the source does not record it."""
        row = self._row(metric, dataset)
        if not 0 <= index < NUM_ARCHS:
            raise ArchitectureError(f"NB201 index {index} out of range 0..{NUM_ARCHS - 1}")
        value = float(row[index])
        if value != value:  # NaN
            raise NotAvailableError(
                f"{metric} on {dataset} is not recorded for architecture {index} "
                f"in the {self.kind} at {self.source}"
            )
        return value

    def available(self, metric: str, dataset: str) -> int:
        """How many architectures have ``metric`` recorded on ``dataset``."""
        return int(np.count_nonzero(~np.isnan(self._row(metric, dataset))))
