"""Proxy services: which architectures to score, proxy tables filled on real data, and how well
each proxy ranks them against the benchmark.

A proxy table is keyed by integers. In NB201 the key is the cell's index; DARTS' space is too
large to index, so there the key i is the i-th genotype of the space's seeded sample
(:func:`~pmfnas.spaces.seeded_sample`, the table's ``sample_seed``; its ``sample`` fingerprint
catches a sampler that changed), and the reference is NAS-Bench-301's surrogate, a prediction
(no measured accuracies exist).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from pmfnas.errors import ConfigError, NotAvailableError
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS, ProxyTable
from pmfnas.runs.profiles import batch_mflops, default_threads, use_threads
from pmfnas.spaces import (
    EnumerableSpace,
    SearchSpace,
    create_space,
    sample_fingerprint,
    seeded_sample,
)
from pmfnas.spaces.darts.costs import params_and_flops
from pmfnas.spaces.nb201 import NUM_ARCHS
from pmfnas.spaces.nb201.costs import DATASET_SHAPES
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.tables.nb301 import MAX_EPOCH, NB301Surrogate
from pmfnas.types import Arch, check_seed
from pmfnas.units import plain_int


@dataclass(frozen=True)
class ProxyQuality:
    """Agreement of one proxy's scores with the true accuracies of the same architectures.

    ``top_hit_rate``: of the ``top`` share (10 %) of architectures ranked best by the proxy, the
    share that is also among the ``top`` share by true accuracy (1.0 = perfect, ``top`` = chance).
    """

    proxy: str
    n: int
    spearman: float
    kendall: float
    top_hit_rate: float
    median_seconds: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def proxy_quality(
    proxy: str,
    scores: np.ndarray,
    accuracies: np.ndarray,
    seconds: np.ndarray,
    *,
    top: float = 0.1,
) -> ProxyQuality:
    """Spearman ρ, Kendall τ and top-share hit rate of ``scores`` against ``accuracies``."""
    scores, accuracies = np.asarray(scores, float), np.asarray(accuracies, float)
    if scores.shape != accuracies.shape or scores.ndim != 1 or len(scores) < 2:
        raise ValueError("scores and accuracies must be two equally long 1-D arrays (n >= 2)")
    k = max(1, math.ceil(top * len(scores)))
    by_proxy = set(np.argsort(-scores, kind="stable")[:k].tolist())
    by_truth = set(np.argsort(-accuracies, kind="stable")[:k].tolist())
    return ProxyQuality(
        proxy=proxy,
        n=len(scores),
        spearman=float(stats.spearmanr(scores, accuracies).statistic),
        kendall=float(stats.kendalltau(scores, accuracies).statistic),
        top_hit_rate=len(by_proxy & by_truth) / k,
        median_seconds=float(np.median(seconds)),
    )


MAX_SAMPLE = 1_000_000
"""The most genotypes a proxy table of a sampled space takes (weeks of scoring on one core)."""


def proxy_table_path(data: str, settings: dict[str, Any]) -> Path:
    """Default file of a proxy table: one per (space, data, network size, batch, seed) in the
    cache dir (a sampled space's sample seed is the seed)."""
    from pmfnas.tables.cache import default_cache_dir

    name = Path(data).name or "data"
    return default_cache_dir() / (
        f"proxies-{settings['space']}-{name}-C{settings['channels']}"
        f"-N{settings['cells_per_stage']}-b{settings['batch_size']}-s{settings['seed']}.db"
    )


def select_archs(spec: str, seed: int = 0, space: str = "nb201") -> list[int]:
    """Table keys from ``all``, a count ``N`` (seeded sample) or a file of indices/strings, for
    an enumerable space (NB201); for one too large to index (DARTS) only a count, the first N
    of its seeded sample, whose positions are its keys."""
    searched = create_space(space)
    if not isinstance(searched, EnumerableSpace):
        return _sample_positions(spec, space)
    if spec == "all":
        return list(range(searched.size))
    count = plain_int(spec)
    if count is not None:
        if not 0 < count <= searched.size:
            raise ConfigError(f"--archs count must lie in 1..{searched.size}, got {count}")
        rng = np.random.default_rng(check_seed(seed))
        return sorted(rng.choice(searched.size, size=count, replace=False).tolist())
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"--archs must be 'all', a count or a file of architectures; got {spec!r}"
        )
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [
        searched.index(searched.resolve(line))
        for line in lines
        if line and not line.startswith("#")
    ]


def _sample_positions(spec: str, space: str) -> list[int]:
    """Keys 0..N-1 from a count N: the only ``--archs`` of a space too large to index."""
    count = plain_int(spec)
    if count is None or not 0 < count <= MAX_SAMPLE:
        raise ConfigError(
            f"--archs for {space} must be a count N in 1..{MAX_SAMPLE} (the first N genotypes "
            f"of its seeded sample; the space is too large for 'all', and a table's key is a "
            f"position in that sample, not a genotype of a file), got {spec!r}"
        )
    return list(range(count))


def table_archs(space: SearchSpace, indices: Sequence[int], sample_seed: int) -> list[Arch]:
    """The architectures of a proxy table's keys ``indices`` (module docstring)."""
    if isinstance(space, EnumerableSpace):
        return [space.arch(i) for i in indices]
    sample = seeded_sample(space, max(indices, default=-1) + 1, sample_seed)
    return [sample[i] for i in indices]


def compute_proxy_table(
    data: str,
    proxies: tuple[str, ...],
    indices: list[int],
    *,
    space: str = "nb201",
    data_dir: Path | None = None,
    table: Path | None = None,
    batch_size: int = 64,
    channels: int = TABLE_CHANNELS,
    cells_per_stage: int = TABLE_CELLS,
    seed: int = 0,
    workers: int = 1,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ProxyTable:
    """Fill (or complete) the proxy table of these settings for ``indices`` (keys of
    :func:`select_archs`); return it open. Each worker scores on ``threads`` torch threads
    (default: as :func:`~pmfnas.runs.profiles.default_threads` gives this network). A space too
    large to index records its sample's seed (``seed``) and fingerprint in the table's
    settings: a table made by a sampler that drew otherwise is refused as of other settings."""
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.proxies import PROXIES
    from pmfnas.evaluators.proxy import ProxyEvaluator, table_scorer

    for name in proxies:
        PROXIES.get(name)  # unknown names fail before any work starts
    size = {"batch_size": batch_size, "channels": channels, "cells_per_stage": cells_per_stage}
    searched = create_space(space)
    evaluator = ProxyEvaluator(load_dataset(data, data_dir), seed=seed, space=searched, **size)
    if threads is None:
        work = batch_mflops(searched, evaluator.data, channels, cells_per_stage, batch_size)
        threads = default_threads(work)
    threads = use_threads(threads)
    settings = evaluator.settings()
    if not isinstance(searched, EnumerableSpace):
        settings |= {"sample_seed": seed, "sample": sample_fingerprint(searched, seed)}
    archs = dict(zip(indices, table_archs(searched, indices, seed), strict=True))
    result = ProxyTable(table or proxy_table_path(data, settings), settings)
    scorer = functools.partial(
        table_scorer, data, data_dir, proxies, archs, threads=threads, seed=seed, space=space,
        **size,
    )  # fmt: skip
    result.fill(indices, proxies, scorer, workers=workers, progress=progress)
    return result


def require_nb201_dataset(dataset: str) -> None:
    """Proxy quality needs benchmark accuracies: only the three NB201 datasets have them."""
    if dataset not in DATASET_SHAPES:
        raise ConfigError(
            f"no NB201 accuracies for data {dataset!r}: score proxies on {', '.join(DATASET_SHAPES)}"
        )


def require_nb301_dataset(dataset: str) -> None:
    """NAS-Bench-301's surrogate predicts CIFAR-10 accuracies only."""
    if dataset != "cifar10":
        raise ConfigError(
            f"no NAS-Bench-301 accuracies for data {dataset!r}: score darts proxies on cifar10"
        )


@dataclass(frozen=True)
class Reference:
    """What the architectures of a proxy table are ranked against: one accuracy per scored key,
    what that accuracy is (``label``, for titles and axes; ``caveat``, for titles), and rows of
    free size proxies, if any."""

    accuracy: np.ndarray
    label: str
    caveat: str = ""
    free: tuple[ProxyQuality, ...] = ()


def nb201_reference(bench: NB201Benchmark, dataset: str, indices: Sequence[int]) -> Reference:
    """NB201's 200-epoch test accuracy (3-seed mean) of the cells ``indices``."""
    require_nb201_dataset(dataset)
    accuracy = bench.array("test_acc_200", dataset)[list(indices)]
    return Reference(accuracy, "200-epoch test accuracy")


def nb301_reference(
    surrogate: NB301Surrogate, dataset: str, archs: Sequence[Arch], epochs: int = MAX_EPOCH
) -> Reference:
    """NAS-Bench-301's surrogate's predicted validation accuracy after ``epochs`` (of its 98-epoch
    schedule) of the genotypes ``archs``, with the free ``params`` and ``flops`` of their
    evaluation networks (20 cells at C=36) ranked against it: the size proxies a NAS-Bench-301
    search gets for free."""
    require_nb301_dataset(dataset)
    accuracy = surrogate.predict(archs, epochs)["val_acc"]
    sizes, seconds = [], []
    for arch in archs:
        start = time.perf_counter()
        sizes.append(params_and_flops(arch))
        seconds.append(time.perf_counter() - start)
    columns = np.array(sizes, dtype=float).T
    free = tuple(
        proxy_quality(f"{name} (C=36, 20 cells)", column, accuracy, np.array(seconds))
        for name, column in zip(("params", "flops"), columns, strict=True)
    )
    label = f"NB301 surrogate's predicted {epochs}-epoch validation accuracy"
    return Reference(accuracy, label, "no measured accuracies exist", free)


def table_scores(
    table: ProxyTable, proxy: str, indices: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, seconds) of ``proxy`` at the keys ``indices``; NaN where not computed."""
    scores, seconds = table.arrays(proxy, max(indices, default=-1) + 1)
    return scores[list(indices)], seconds[list(indices)]


def score_proxies(
    table: ProxyTable, proxies: Sequence[str], indices: Sequence[int], reference: Reference
) -> list[ProxyQuality]:
    """Rank agreement of each proxy on ``indices`` with the reference accuracy, then the
    reference's free rows."""
    qualities = []
    for name in proxies:
        scores, seconds = table_scores(table, name, indices)
        qualities.append(proxy_quality(name, scores, reference.accuracy, seconds))
    return qualities + list(reference.free)


def export_proxy_arrays(table: ProxyTable, proxies: Sequence[str], out: Path) -> Path:
    """Write the complete columns of ``table`` as the compact float32 npz the tabular evaluator
    serves (the format of :mod:`pmfnas.tables.nb201_proxies`); a proxy missing for any cell is
    a :class:`NotAvailableError`."""
    if table.settings.get("space", "nb201") != "nb201":
        raise ConfigError(
            f"{table.path} scores a sample of {table.settings['space']}: only a table of all "
            "NB201 cells exports for the tabular benchmark"
        )
    arrays: dict[str, Any] = {"settings": np.array(json.dumps(table.settings, sort_keys=True))}
    for name in proxies:
        scores, seconds = table.arrays(name, NUM_ARCHS)
        if np.isnan(scores).any():
            raise NotAvailableError(
                f"proxy {name} is missing for {int(np.isnan(scores).sum())} cells of {table.path}"
            )
        arrays[name] = scores.astype(np.float32)
        arrays[f"{name}_seconds"] = seconds.astype(np.float32)
    np.savez_compressed(out, **arrays)
    return out
