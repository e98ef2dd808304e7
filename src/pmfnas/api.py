"""High-level calls behind the CLI, usable from Python: searches, architectures, proxy tables."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmfnas.benchmarks.nb201 import NB201Benchmark
from pmfnas.errors import BudgetError, ConfigError, DataError, NotAvailableError
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS, ProxyTable
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201_costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import Progress, Study, trials_per_fidelity

if TYPE_CHECKING:
    from pmfnas.report.proxy_quality import ProxyQuality


def run_search(
    bench: NB201Benchmark,
    *,
    dataset: str = "cifar10",
    strategy: str = "rea",
    budget: float = 20000.0,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    reuse: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Search NAS-Bench-201 on ``dataset`` and summarise the result as a JSON-ready dict.

    The study name defaults to ``<strategy>-<dataset>-seed<seed>`` so that rerunning the same
    command on the same storage file resumes (or extends) the same study.
    """
    space = NB201Space()
    evaluator = TabularEvaluator(bench, dataset)
    search = create_strategy(strategy, space, seed=seed, **(params or {}))
    db = Storage(storage) if storage else None
    try:
        result = Study(
            space,
            evaluator,
            search,
            budget,
            storage=db,
            name=study or f"{strategy}-{dataset}-seed{seed}",
            reuse=reuse,
        ).run(progress)
    finally:
        if db:
            db.close()
    best = result.best
    if best is None:
        raise BudgetError(f"a budget of {budget:g} s does not pay for a single evaluation")
    return {
        "benchmark": "nb201",
        "dataset": dataset,
        "strategy": strategy,
        "params": search.params(),
        "seed": seed,
        "arch": space.format(best.arch),
        "index": space.index(best.arch),
        "fidelity": str(best.fidelity),
        "val_acc": best.val_acc,
        "test_acc": evaluator.test_accuracy(best.arch),
        "cost": result.spent,
        "budget": result.budget,
        "trials": trials_per_fidelity(result.trials),
        "n_trials": len(result.trials),
        "stop_reason": result.stop_reason,
    }


BENCHMARK_FIELDS = (
    "val_acc_200",
    "test_acc_200",
    "test_acc_12",
    "train_time_per_epoch",
    "zen_score",
)


def describe_arch(
    text: str, dataset: str = "cifar10", source: Path | None = None
) -> dict[str, Any]:
    """Index, canonical string, size and (where the data exists) benchmark numbers of one cell.

    Missing benchmark values are ``None`` (shown as n/a), never estimates.
    """
    space = NB201Space()
    arch = space.resolve(text)
    index = space.index(arch)
    if dataset not in DATASET_SHAPES:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(DATASET_SHAPES)})")
    params, flops = all_params_and_flops(*DATASET_SHAPES[dataset])
    info: dict[str, Any] = {
        "index": index,
        "arch": space.format(arch),
        "params_m": float(params[index]),
        "flops_m": float(flops[index]),
    }
    try:
        bench = NB201Benchmark.load(source)
    except DataError as exc:
        info["benchmark"] = f"not available ({exc})"
        return info
    for field in BENCHMARK_FIELDS:
        try:
            info[field] = bench.value(field, dataset, index)
        except NotAvailableError:
            info[field] = None
    info["latency_ms"] = _latencies(index, source)
    return info


def _latencies(index: int, source: Path | None) -> dict[str, float]:
    from pmfnas.benchmarks.hardware import LatencyTables

    try:
        tables = LatencyTables.load(source / "latency" if source else None)
    except DataError:
        return {}
    values = {d: tables.latency(d, index) for d in tables.devices}
    return {d: v for d, v in values.items() if not math.isnan(v)}


def proxy_table_path(data: str, settings: dict[str, Any]) -> Path:
    """Default file of a proxy table: one per (data, network size, batch, seed) in the cache dir."""
    from pmfnas.benchmarks.cache import default_cache_dir

    name = Path(data).name or "data"
    return default_cache_dir() / (
        f"proxies-nb201-{name}-C{settings['channels']}-N{settings['cells_per_stage']}"
        f"-b{settings['batch_size']}-s{settings['seed']}.db"
    )


def select_archs(spec: str, seed: int = 0) -> list[int]:
    """NB201 indices from ``all``, a count ``N`` (seeded sample) or a file of indices/strings."""
    space = NB201Space()
    if spec == "all":
        return list(range(space.size))
    if spec.isdigit():
        count = int(spec)
        if not 0 < count <= space.size:
            raise ConfigError(f"--archs count must lie in 1..{space.size}, got {count}")
        rng = np.random.default_rng(seed)
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
    progress: Callable[[int, int], None] | None = None,
) -> ProxyTable:
    """Fill (or complete) the proxy table of these settings for ``indices``; return it open."""
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.proxies import PROXIES
    from pmfnas.evaluators.proxy import ProxyEvaluator, table_scorer

    for name in proxies:
        PROXIES.get(name)  # unknown names fail before any work starts
    size = {"batch_size": batch_size, "channels": channels, "cells_per_stage": cells_per_stage}
    evaluator = ProxyEvaluator(load_dataset(data, data_dir), seed=seed, **size)
    settings = evaluator.settings()
    result = ProxyTable(table or proxy_table_path(data, settings), settings)
    scorer = functools.partial(table_scorer, data, data_dir, proxies, seed=seed, **size)
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
    from pmfnas.report.proxy_quality import proxy_quality

    require_nb201_dataset(dataset)
    accuracy = bench.array("test_acc_200", dataset)[indices]
    qualities = []
    for name in proxies:
        scores, seconds = table.arrays(name, NB201Space.size)
        qualities.append(proxy_quality(name, scores[indices], accuracy, seconds[indices]))
    return qualities
