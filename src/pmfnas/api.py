"""High-level calls behind the CLI, usable from Python: searches, architectures, proxy tables."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmfnas.bench import study_name
from pmfnas.benchmarks.nb201 import NATS_BUDGETS, NB201Benchmark
from pmfnas.benchmarks.nb201_proxies import shipped_proxies
from pmfnas.errors import BudgetError, ConfigError, DataError, NotAvailableError
from pmfnas.evaluators.base import BudgetUnit, Evaluator
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS, ProxyTable
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201_costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.study import INTERRUPTED, Progress, Study, trials_per_fidelity
from pmfnas.types import Fidelity, TrialState, check_seed
from pmfnas.units import format_amount, plain_int

if TYPE_CHECKING:
    import torch

    from pmfnas.evaluators.multi import MultiFidelityEvaluator
    from pmfnas.evaluators.training import TrainingEvaluator
    from pmfnas.report.proxy_quality import ProxyQuality
    from pmfnas.training import TrainingRecipe


DEFAULT_STRATEGY = "pmf"
"""The flagship: progressive multi-fidelity search (issue 5)."""


def _run_study(
    evaluator: Evaluator,
    strategy: str,
    *,
    budget: float,
    seed: int,
    params: dict[str, Any] | None,
    storage: str | Path | None,
    study: str,
    reuse: bool,
    progress: Progress | None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run one study and summarise its returned architecture as a JSON-ready dict;
    ``announce`` hears the fidelity ladder the strategy climbs before it starts."""
    space = NB201Space()
    search = create_strategy(strategy, space, seed=seed, **(params or {}))
    if announce:
        announce(f"ladder: {ladder(search.params())}")
    db = Storage(storage) if storage else None
    try:
        result = Study(space, evaluator, search, budget, storage=db, name=study, reuse=reuse).run(
            progress
        )
    finally:
        if db:
            db.close()
    best = result.best
    if best is None and result.stop_reason == INTERRUPTED:
        raise KeyboardInterrupt  # nothing to summarise yet
    if best is None:
        raise BudgetError(
            f"a budget of {format_amount(budget, evaluator.budget_unit)} does not pay for a "
            f"single evaluation ({result.stop_reason})"
        )
    test_acc = best.info.get("test_acc", evaluator.test_accuracy(best.arch))
    return {
        "strategy": strategy,
        "params": search.params(),
        "seed": seed,
        "arch": space.format(best.arch),
        "index": space.index(best.arch),
        "fidelity": str(best.fidelity),
        "val_acc": best.metrics.get("val_acc"),  # None for a proxy-only strategy
        "test_acc": test_acc,
        "cost": result.spent,
        "budget": result.budget,
        "budget_unit": evaluator.budget_unit,
        "trials": trials_per_fidelity(result.trials),
        "stopped": sum(t.state is TrialState.STOPPED for t in result.trials),
        "n_trials": len(result.trials),
        "stop_reason": result.stop_reason,
        "strategy_s": result.strategy_seconds,
        "wall_s": result.wall_seconds,
    }


def ladder(params: dict[str, Any]) -> str:
    """The fidelities a strategy's parameters name, cheapest first (``a → b → c``)."""
    if "rungs" in params:
        rungs = params["rungs"].split(";")
    elif "fidelity" in params:
        rungs = [params["fidelity"]]
    elif "proxies" in params:
        rungs = [f"proxy:{params['proxies']}"]
    else:
        rungs = [
            params[k] for k in ("low", "medium", "high") if params.get(k) not in (None, "none")
        ]
    return " → ".join(rungs)


def run_search(
    bench: NB201Benchmark,
    *,
    dataset: str = "cifar10",
    strategy: str = DEFAULT_STRATEGY,
    budget: float | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    reuse: bool = True,
    protocol: str = "default",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Search NAS-Bench-201 on ``dataset`` (simulated seconds, by default the dataset's NATS
    budget) and summarise the result.

    ``protocol`` is the 12-epoch signal: ``default`` its validation accuracy, ``peers`` its test
    accuracy as in ``PEERS.md`` (:data:`~pmfnas.evaluators.tabular.SIGNAL12`). The study name
    defaults to :func:`~pmfnas.bench.study_name` (``<strategy>-<dataset>-seed<seed>``, ``-peers``
    appended under the peers' protocol) so that rerunning the same command on the same storage
    file resumes (or extends) the same study.
    """
    evaluator = TabularEvaluator(
        bench, dataset, proxies=shipped_proxies(), protocol=protocol
    )  # checks the dataset and the protocol
    summary = _run_study(
        evaluator,
        strategy,
        budget=NATS_BUDGETS[dataset] if budget is None else budget,
        seed=seed,
        params=params,
        storage=storage,
        study=study or study_name(strategy, dataset, seed, protocol),
        reuse=reuse,
        progress=progress,
    )
    return {"benchmark": "nb201", "dataset": dataset, "protocol": protocol, **summary}


DEFAULT_DATA = "digits"
"""The embedded default: scikit-learn's digits need no data folder."""

SMALL_RECIPES = {"digits": {"batch_size": 64, "channels": 8, "cells_per_stage": 1, "fraction": 1.0}}
"""Recipe defaults for small datasets, where NB201's full 16-channel, 5-cell network and batch 256
would be oversized (digits: 1,081 training images of 8 x 8 pixels); a search keeps them as given
instead of planning its setting (:func:`search_evaluator`)."""


TRAINING_LADDER = "proxy:meco,synflow;epochs=4;epochs=12"
"""The fidelity ladder of real training: NB201's 12-epoch schedule is the full fidelity here (as
for rea and random), since the tabular ladder's 200 epochs do not fit a search of minutes; the
medium rung is a complete 4-epoch schedule on all the data, a third of the work. A medium rung
needs enough optimizer steps to rank: on the digits, 3 epochs on half the data (27 steps of 64
images) ranked no better than chance (``benchmarks/digits_fidelities.py``)."""

TRAINING_PARAMS: dict[str, dict[str, Any]] = {
    "pmf": {
        "medium": "epochs=4",
        "high": "epochs=12",
        "low_share": 0.1,
        "low_sample": 500,
        "patience": 5,
    },
    "sh": {"rungs": TRAINING_LADDER},
    "hyperband": {"rungs": TRAINING_LADDER},
}
"""Strategy defaults for real training, under the user's own parameters. PMF's stage 1 may take
10 % of the budget, and at most 500 cells: proxies on the reduced network cost 0.05-0.1 s a cell
on the digits (a three-minute search scored 465), but they count few FLOPs, so under a compute
budget the share alone would let stage 1 take most of the wall time. A stall is 5 medium results
without a better one: a search of minutes affords only a hundred or so medium runs, and with the
tabular patience of 20 PMF trained only about 6 candidates to 12 epochs."""


def training_params(strategy: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parameters a real-training search passes ``strategy``: its real-training defaults
    (:data:`TRAINING_PARAMS`) under the user's ``params``."""
    return {**TRAINING_PARAMS.get(strategy, {}), **(params or {})}


def training_recipe(data: str, **overrides: Any) -> TrainingRecipe:
    """NB201's recipe, with the small-dataset defaults for ``data`` and the given overrides."""
    from pmfnas.training import TrainingRecipe

    base = SMALL_RECIPES.get(data.lower(), {})
    return TrainingRecipe(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def training_evaluator(
    data: str = DEFAULT_DATA,
    *,
    data_dir: Path | None = None,
    split: str = "holdout",
    recipe: TrainingRecipe | None = None,
    device: str = "cpu",
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    progress: Callable[[float, float], None] | None = None,
    budget_unit: BudgetUnit = "wall",
) -> TrainingEvaluator:
    """A training evaluator on a named dataset or image folder, split for validation."""
    from pmfnas.data import load_dataset
    from pmfnas.evaluators.training import TrainingEvaluator

    return TrainingEvaluator(
        load_dataset(data, data_dir, split=split),
        recipe or training_recipe(data),
        device=device,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
        budget_unit=budget_unit,
    )


SEARCH_THREADS = 1
"""Torch threads of a real-training search on the CPU. The networks a search trains are small:
on this project's 2-core machine one thread trained the digits network 7x faster than torch's
default, and a thread count is part of what makes a search reproducible (results differ bit-wise
between counts), so the default must not depend on the machine."""


def search_evaluator(
    data: str = DEFAULT_DATA,
    *,
    budget: float,
    budget_unit: BudgetUnit = "wall",
    data_dir: Path | None = None,
    split: str = "holdout",
    device: str = "cpu",
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    threads: int | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    strategy: str = DEFAULT_STRATEGY,
    **knobs: Any,
) -> MultiFidelityEvaluator:
    """The proxies-and-training ladder of a real-training search on ``data``, trained at the
    setting that ``budget`` pays for (:func:`pmfnas.evaluators.setting.plan_recipe`).

    ``knobs`` (recipe fields: ``channels``, ``cells_per_stage``, ``batch_size``, ``fraction``,
    ``resolution``; ``None`` = choose) are kept as given; so are the small-dataset defaults of
    :data:`SMALL_RECIPES`. A study already in ``storage`` (``study``, by default the name
    :func:`run_training_search` gives a ``strategy`` search) keeps the setting it was planned
    with, whatever this budget or machine would plan now, so that it can be resumed. ``threads``
    (default :data:`SEARCH_THREADS`) sets torch's thread count for the whole process.
    """
    import torch

    from pmfnas.data import load_dataset
    from pmfnas.evaluators.setting import plan_recipe
    from pmfnas.evaluators.training import TrainingEvaluator

    torch.set_num_threads(threads or SEARCH_THREADS)
    dataset = load_dataset(data, data_dir, split=split)
    name = study or training_study_name(strategy, dataset.name, seed)
    recipe = stored_recipe(storage, name) if storage else None
    if recipe is None:
        given = {k: v for k, v in knobs.items() if v is not None}
        fixed = frozenset(given) | frozenset(SMALL_RECIPES.get(data.lower(), {}))
        base = training_recipe(data, **given)
        recipe = plan_recipe(dataset, budget, budget_unit, base, fixed, device)
    training = TrainingEvaluator(
        dataset,
        recipe,
        device=device,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        budget_unit=budget_unit,
    )
    return real_data_evaluator(training)


def training_study_name(strategy: str, data: str, seed: int) -> str:
    """The default name of a real-training study on the dataset named ``data``: rerunning the
    same search resumes it."""
    return f"{strategy}-{data}-train-seed{seed}"


def stored_recipe(storage: str | Path, study: str) -> TrainingRecipe | None:
    """The recipe a real-training study in ``storage`` was made with (``None``: no such study)."""
    from pmfnas.training import TrainingRecipe

    if not Path(storage).is_file():
        return None
    db = Storage(storage, read_only=True)
    try:
        configs = dict(db.studies())
    finally:
        db.close()
    recipe = configs.get(study, {}).get("evaluator", {}).get("recipe")
    return TrainingRecipe(**json.loads(recipe)) if recipe else None


def describe_setting(training: TrainingEvaluator) -> str:
    """What a real-training search trains, in one line for people."""
    recipe, data = training.recipe, training.dataset()
    sizes = {part: len(data.part(part)[1]) for part in ("train", "valid", "test")}
    side = data.image_size[0]
    return (
        f"setting: NB201 networks C={recipe.channels}, N={recipe.cells_per_stage}, batch "
        f"{recipe.batch_size}, on {sizes['train']:,} of {len(training.data.train_y):,} training "
        f"images at {side}x{side} px; {sizes['valid']:,} validation, {sizes['test']:,} test "
        f"images; {training.threads} thread(s) on {training.run.device}"
    )


def real_data_evaluator(training: TrainingEvaluator) -> MultiFidelityEvaluator:
    """The whole ladder on ``training``'s data, at the recipe's resolution: proxies (on the
    reduced proxy-table network, two batches of 64) below the training fidelities."""
    from pmfnas.evaluators.multi import MultiFidelityEvaluator
    from pmfnas.evaluators.proxy import ProxyEvaluator

    proxies = ProxyEvaluator(
        training.dataset(),
        batch_size=64,
        channels=TABLE_CHANNELS,
        cells_per_stage=TABLE_CELLS,
        seed=training.seed,
        budget_unit=training.budget_unit,
    )
    return MultiFidelityEvaluator(proxies, training)


def run_training_search(
    evaluator: MultiFidelityEvaluator,
    *,
    strategy: str = DEFAULT_STRATEGY,
    budget: float = 180.0,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    reuse: bool = True,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Search by real training within ``budget`` (wall seconds or FLOPs, the evaluator's
    unit); the returned architecture's test accuracy is the one measured when it was trained
    (never used to choose it). ``announce`` hears the setting and the ladder before it starts."""
    data = evaluator.training.data.name
    if announce:
        announce(describe_setting(evaluator.training))
    summary = _run_study(
        evaluator,
        strategy,
        budget=budget,
        seed=seed,
        params=training_params(strategy, params),
        storage=storage,
        study=study or training_study_name(strategy, data, seed),
        reuse=reuse,
        progress=progress,
        announce=announce,
    )
    device = str(evaluator.training.run.device)
    return {"benchmark": None, "data": data, "device": device, **summary}


def train_architecture(
    text: str, evaluator: TrainingEvaluator, fidelity: Fidelity
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train one architecture (string or NATS index); the trained model and a JSON-ready summary."""
    from pmfnas.spaces.networks import count_parameters

    space = NB201Space()
    arch = space.resolve(text)
    model, result = evaluator.train(arch, fidelity)
    return model, {
        "arch": space.format(arch),
        "index": space.index(arch),
        "data": evaluator.data.name,
        "split": evaluator.data.split,
        "fidelity": str(fidelity),
        "recipe": evaluator.recipe.as_dict(),
        "seed": evaluator.seed,
        "device": str(evaluator.run.device),
        "params_m": count_parameters(model) / 1e6,
        "val_acc": result.val_acc,
        "test_acc": result.private["test_acc"],
        "seconds": result.cost,
        "curve": list(result.curve),
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
