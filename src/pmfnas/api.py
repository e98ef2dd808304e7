"""High-level calls behind the CLI, usable from Python: run a search, describe an architecture."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pmfnas.benchmarks.nb201 import NB201Benchmark
from pmfnas.errors import BudgetError, DataError, NotAvailableError
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201_costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import Progress, Study, trials_per_fidelity


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
