"""Proxy services: which architectures to score, proxy tables filled on real data, and how well
each proxy ranks them against the benchmark."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from pmfnas.errors import ConfigError, NotAvailableError
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS, ProxyTable
from pmfnas.runs.profiles import batch_mflops, default_threads, use_threads
from pmfnas.spaces import create_space, require_enumerable
from pmfnas.spaces.nb201 import NUM_ARCHS
from pmfnas.spaces.nb201.costs import DATASET_SHAPES
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.types import check_seed
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


def proxy_table_path(data: str, settings: dict[str, Any]) -> Path:
    """Default file of a proxy table: one per (data, network size, batch, seed) in the cache dir."""
    from pmfnas.tables.cache import default_cache_dir

    name = Path(data).name or "data"
    return default_cache_dir() / (
        f"proxies-nb201-{name}-C{settings['channels']}-N{settings['cells_per_stage']}"
        f"-b{settings['batch_size']}-s{settings['seed']}.db"
    )


def select_archs(spec: str, seed: int = 0) -> list[int]:
    """NB201 indices from ``all``, a count ``N`` (seeded sample) or a file of indices/strings."""
    space = require_enumerable(create_space("nb201"), "a proxy table")
    if spec == "all":
        return list(range(space.size))
    count = plain_int(spec)
    if count is not None:
        if not 0 < count <= space.size:
            raise ConfigError(f"--archs count must lie in 1..{space.size}, got {count}")
        rng = np.random.default_rng(check_seed(seed))
        return sorted(rng.choice(space.size, size=count, replace=False).tolist())
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"--archs must be 'all', a count or a file of architectures; got {spec!r}"
        )
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [space.index(space.resolve(line)) for line in lines if line and not line.startswith("#")]


def compute_proxy_table(
    data: str,
    proxies: tuple[str, ...],
    indices: list[int],
    *,
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
    """Fill (or complete) the proxy table of these settings for ``indices``; return it open.
    Each worker scores on ``threads`` torch threads (default: as
    :func:`~pmfnas.runs.profiles.default_threads` gives this network)."""
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.proxies import PROXIES
    from pmfnas.evaluators.proxy import ProxyEvaluator, table_scorer

    for name in proxies:
        PROXIES.get(name)  # unknown names fail before any work starts
    size = {"batch_size": batch_size, "channels": channels, "cells_per_stage": cells_per_stage}
    evaluator = ProxyEvaluator(load_dataset(data, data_dir), seed=seed, **size)
    if threads is None:
        work = batch_mflops(evaluator.space, evaluator.data, channels, cells_per_stage, batch_size)
        threads = default_threads(work)
    threads = use_threads(threads)
    settings = evaluator.settings()
    result = ProxyTable(table or proxy_table_path(data, settings), settings)
    scorer = functools.partial(
        table_scorer, data, data_dir, proxies, threads=threads, seed=seed, **size
    )
    result.fill(indices, proxies, scorer, workers=workers, progress=progress)
    return result


def require_nb201_dataset(dataset: str) -> None:
    """Proxy quality needs benchmark accuracies: only the three NB201 datasets have them."""
    if dataset not in DATASET_SHAPES:
        raise ConfigError(
            f"no NB201 accuracies for data {dataset!r}: score proxies on {', '.join(DATASET_SHAPES)}"
        )


def score_proxies(
    bench: NB201Benchmark,
    dataset: str,
    table: ProxyTable,
    proxies: tuple[str, ...],
    indices: list[int],
) -> list[ProxyQuality]:
    """Rank agreement of each proxy with the benchmark's 200-epoch test accuracy on ``indices``."""
    require_nb201_dataset(dataset)
    accuracy = bench.array("test_acc_200", dataset)[indices]
    qualities = []
    for name in proxies:
        scores, seconds = table.arrays(name, NUM_ARCHS)
        qualities.append(proxy_quality(name, scores[indices], accuracy, seconds[indices]))
    return qualities


def export_proxy_arrays(table: ProxyTable, proxies: Sequence[str], out: Path) -> Path:
    """Write the complete columns of ``table`` as the compact float32 npz the tabular evaluator
    serves (the format of :mod:`pmfnas.tables.nb201_proxies`); a proxy missing for any cell is
    a :class:`NotAvailableError`."""
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
