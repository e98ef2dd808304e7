"""Searches: one study on the tabular benchmark or by real training, summarised for people
and for JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmfnas.errors import BudgetError, ConfigError, EvaluationError
from pmfnas.evaluators.base import Evaluator
from pmfnas.evaluators.nb301 import NB301Evaluator, SampleProxies
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.executors import training_executor
from pmfnas.runs.profiles import DEFAULT_STRATEGY, describe_setting
from pmfnas.runs.spec import SearchSpec, open_study, study_name, training_study_name
from pmfnas.spaces import index_or_none
from pmfnas.study import (
    INTERRUPTED,
    MAX_FAILURES_IN_A_ROW,
    RETRIES,
    StudyWatcher,
    trials_per_fidelity,
)
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.tables.nb201_proxies import shipped_proxies
from pmfnas.tables.nb301 import NB301Surrogate
from pmfnas.types import Progress, TrialState
from pmfnas.units import format_amount

if TYPE_CHECKING:
    from pmfnas.evaluators.multi import MultiFidelityEvaluator


def run_spec(
    spec: SearchSpec,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
    watcher: StudyWatcher | None = None,
) -> dict[str, Any]:
    """Run one study and summarise its returned architecture as a JSON-ready dict;
    ``announce`` hears the fidelity ladder the strategy climbs before it starts, ``watcher``
    that ladder and every trial as it finishes."""
    with open_study(spec) as study:
        climbs = rungs(study.strategy.params())
        if announce:
            announce(f"ladder: {' → '.join(climbs)}")
        if watcher:
            watcher.planned(climbs)
        result = study.run(progress, watcher)
    space, evaluator = spec.space, spec.evaluator
    best = result.best
    if best is None and result.stop_reason == INTERRUPTED:
        raise KeyboardInterrupt  # nothing to summarise yet
    if best is None and result.trials and all(t.state is TrialState.FAILED for t in result.trials):
        raise EvaluationError(f"no evaluation succeeded: {result.stop_reason}")
    if best is None:
        raise BudgetError(
            f"a budget of {format_amount(spec.budget, evaluator.budget_unit)} does not pay for a "
            f"single evaluation ({result.stop_reason})"
        )
    test_acc = best.info.get("test_acc", evaluator.test_accuracy(best.arch))
    return {
        "strategy": spec.strategy,
        "params": study.strategy.params(),
        "seed": spec.seed,
        "arch": space.format(best.arch),
        "index": index_or_none(space, best.arch),
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


def default_budget(evaluator: Evaluator) -> float:
    """The budget of a search that names none: the evaluator's (a FLOPs budget has none)."""
    if evaluator.ladder.default_budget is None:
        raise BudgetError(f"a search in {evaluator.budget_unit} needs a budget: give one")
    return evaluator.ladder.default_budget


def rungs(params: dict[str, Any]) -> list[str]:
    """The fidelities a strategy's parameters name, cheapest first."""
    if "rungs" in params:
        return params["rungs"].split(";")
    if "fidelity" in params:
        return [params["fidelity"]]
    if "proxies" in params:
        return [f"proxy:{params['proxies']}"]
    return [params[k] for k in ("low", "medium", "high") if params.get(k) not in (None, "none")]


def benchmark_evaluator(
    bench: NB201Benchmark | NB301Surrogate,
    dataset: str = "cifar10",
    protocol: str = "default",
    proxies: SampleProxies | None = None,
) -> TabularEvaluator | NB301Evaluator:
    """The evaluator of a benchmark: NB201's tables on ``dataset`` under ``protocol`` (both
    checked), or NAS-Bench-301's surrogate (CIFAR-10 only, one protocol), with the measured
    ``proxies`` of a DARTS proxy table as its low fidelity if given."""
    if isinstance(bench, NB201Benchmark):
        if proxies is not None:
            raise ConfigError("a DARTS proxy table is the low fidelity of nb301, not of nb201")
        return TabularEvaluator(bench, dataset, proxies=shipped_proxies(), protocol=protocol)
    if dataset != "cifar10" or protocol != "default":
        raise ConfigError("nb301 is CIFAR-10 under one protocol: drop --dataset and --protocol")
    return NB301Evaluator(bench, proxies)


def run_search(
    bench: NB201Benchmark | NB301Surrogate,
    *,
    dataset: str = "cifar10",
    strategy: str = DEFAULT_STRATEGY,
    budget: float | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    reuse: bool = True,
    retries: int = RETRIES,
    max_failures: int = MAX_FAILURES_IN_A_ROW,
    protocol: str = "default",
    workers: int = 1,
    proxies: SampleProxies | None = None,
    progress: Progress | None = None,
    watcher: StudyWatcher | None = None,
) -> dict[str, Any]:
    """Search a benchmark (NAS-Bench-201 on ``dataset``, or NAS-Bench-301's surrogate) in
    simulated seconds (by default the evaluator's: the dataset's NATS budget, or about 100 full
    trainings on NB301) with ``workers`` simulated workers and summarise the result.

    ``protocol`` is NB201's 12-epoch signal: ``default`` its validation accuracy, ``peers`` its
    test accuracy, as the peers were first measured (:data:`~pmfnas.evaluators.tabular.SIGNAL12`).
    ``proxies`` (NB301 only) are a DARTS proxy table's, served as the low fidelity. On NB301
    ``final_val_acc`` is the returned genotype's predicted validation accuracy after the full 98
    epochs (``final_fidelity``: what a bench compares; never shown to the search).
    The study name defaults to :func:`~pmfnas.runs.spec.study_name`
    (``<strategy>-<dataset>-seed<seed>``, ``nb301`` for the dataset there, ``-peers`` appended
    under the peers' protocol, ``-w<k>`` with several workers) so that rerunning the same
    command on the same storage file resumes (or extends) the same study.
    """
    evaluator = benchmark_evaluator(bench, dataset, protocol, proxies)  # checks them all
    benchmark = evaluator.describe()["benchmark"]
    spec = SearchSpec(
        evaluator,
        strategy,
        default_budget(evaluator) if budget is None else budget,
        seed=seed,
        params=params or {},
        space=evaluator.space,
        storage=storage,
        study=study or study_name(strategy, dataset, seed, protocol, workers, benchmark),
        reuse=reuse,
        retries=retries,
        max_failures=max_failures,
        workers=workers,
    )
    summary = run_spec(spec, progress, watcher=watcher)
    final: dict[str, Any] = {}  # NB301's: the returned genotype after 98 epochs, reported only
    if isinstance(evaluator, NB301Evaluator):
        arch = evaluator.space.parse(summary["arch"])
        final = {
            "final_fidelity": str(evaluator.ladder.high),
            "final_val_acc": round(evaluator.final_accuracy(arch), 2),
        }
    return {
        "benchmark": benchmark,
        "dataset": dataset,
        "protocol": protocol,
        "workers": workers,
        **summary,
        **final,
    }


def run_training_search(
    evaluator: MultiFidelityEvaluator,
    *,
    strategy: str = DEFAULT_STRATEGY,
    budget: float | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    reuse: bool = True,
    retries: int = RETRIES,
    max_failures: int = MAX_FAILURES_IN_A_ROW,
    workers: int | None = 1,
    executor: str | None = None,
    threads: int | None = None,
    gpus: tuple[int, ...] = (),
    address: str | None = None,
    gpu_share: float | None = None,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
    watcher: StudyWatcher | None = None,
) -> dict[str, Any]:
    """Search by real training within ``budget`` (wall seconds or FLOPs, the evaluator's
    unit; by default the evaluator's, three minutes of wall clock); the returned architecture's
    test accuracy is the one measured when it was trained (never used to choose it).
    ``announce`` hears the setting and the ladder before it starts, ``watcher`` every trial.
    Several ``workers`` train at once on an ``executor`` (``process`` by default; ``ray``
    at ``address``, ``gpu_share`` of a GPU per trial), ``threads`` each, on ``gpus``."""
    data = evaluator.training.data.name
    if announce:
        announce(describe_setting(evaluator.training))
    spec = SearchSpec(
        evaluator,
        strategy,
        default_budget(evaluator) if budget is None else budget,
        seed=seed,
        params=params or {},
        space=evaluator.training.space,
        storage=storage,
        study=study or training_study_name(strategy, data, seed, workers, executor),
        reuse=reuse,
        retries=retries,
        max_failures=max_failures,
        workers=workers,
        executor=training_executor(executor, workers),
        threads=threads,
        gpus=gpus,
        address=address,
        gpu_share=gpu_share,
    )
    summary = run_spec(spec, progress, announce, watcher)
    device = str(evaluator.training.run.device)
    parallel = {"workers": workers, "executor": spec.executor or "serial"}
    return {"benchmark": None, "data": data, "device": device, **parallel, **summary}
