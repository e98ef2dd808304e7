"""Strategies compared over many seeds on a benchmark: NAS-Bench-201 under the protocol of
docs/nb201.md, or NAS-Bench-301's surrogate in the DARTS space (docs/darts.md).

The ``protocol`` picks the 12-epoch search signal (:data:`~pmfnas.evaluators.tabular.SIGNAL12`):
``default`` shows the 12-epoch validation accuracy, ``peers`` the 12-epoch test accuracy the peers
were first measured with; everything else (costs, budget rule, returned architecture) is the same.

Each (strategy, seed) is one :class:`~pmfnas.study.Study`, exactly what ``pmfnas search`` runs,
so the numbers are those of single searches. The returned architecture is the strategy's own
:meth:`~pmfnas.strategies.base.BaseStrategy.best` rule; *anytime* applies the same rule to the
trials that had finished by a fraction of the budget; both are scored by the benchmark's final
accuracy (:data:`~pmfnas.runs.records.FINAL`). Runs are independent, so they go to the workers
of an executor (:mod:`pmfnas.executors`: local processes or Ray); with a storage file each run
is the named study ``<strategy>-<dataset>-seed<seed>`` (``nb301`` for the dataset there,
``-peers`` appended under the peers' protocol; the name ``run_search`` uses) and a rerun replays
it instead of evaluating again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.errors import BudgetError, ConfigError, PmfnasError
from pmfnas.evaluators.nb301 import NB301Evaluator, SampleProxies
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.executors import create_executor
from pmfnas.runs.records import ANYTIME_FRACTIONS, CURVE_POINTS, BenchResult, RunRecord
from pmfnas.runs.search import benchmark_evaluator, default_budget
from pmfnas.runs.spec import SearchSpec, open_study, study_name
from pmfnas.spaces import index_or_none
from pmfnas.storage import Storage
from pmfnas.study import INTERRUPTED, anytime_best
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.tables.nb301 import NB301Surrogate
from pmfnas.types import Arch, Result, Trial, TrialState

Benchmark = NB201Benchmark | NB301Surrogate


@dataclass(frozen=True)
class BenchJob:
    """One search of the bench: everything a worker process needs besides the benchmark."""

    strategy: str
    seed: int
    dataset: str
    budget: float
    params: dict[str, Any]
    storage: str | None
    reuse: bool
    protocol: str


def final_accuracy(evaluator: TabularEvaluator | NB301Evaluator, arch: Arch) -> float | None:
    """What a bench compares (:data:`~pmfnas.runs.records.FINAL`): NB201's 200-epoch test
    accuracy, NB301's predicted validation accuracy after the full 98 epochs."""
    if isinstance(evaluator, NB301Evaluator):
        return evaluator.final_accuracy(arch)
    return evaluator.test_accuracy(arch)


def run_one(bench: Benchmark, job: BenchJob, proxies: SampleProxies | None = None) -> RunRecord:
    """Search once and read the returned and anytime architectures' final accuracy."""
    evaluator = benchmark_evaluator(bench, job.dataset, job.protocol, proxies)
    space = evaluator.space
    benchmark = evaluator.describe()["benchmark"]
    spec = SearchSpec(
        evaluator,
        job.strategy,
        job.budget,
        seed=job.seed,
        params=job.params,
        space=space,
        storage=job.storage,
        study=study_name(job.strategy, job.dataset, job.seed, job.protocol, 1, benchmark),
        reuse=job.reuse,
    )
    with open_study(spec) as study:
        result = study.run()  # a stored run with a larger budget is cut at this one
    strategy = study.strategy
    if result.stop_reason == INTERRUPTED:
        raise KeyboardInterrupt  # a partial run is no record; its stored trials replay next time
    trials, best = result.trials, result.best
    if best is None:
        raise BudgetError(
            f"{job.strategy}, seed {job.seed}: a budget of {job.budget:g} s does not pay for a "
            "single evaluation"
        )

    def final(trial: Trial | None) -> float | None:
        return None if trial is None else final_accuracy(evaluator, trial.arch)

    fractions = anytime_best(strategy, trials, [f * job.budget for f in ANYTIME_FRACTIONS])
    curve = anytime_best(strategy, trials, np.linspace(0.0, job.budget, CURVE_POINTS).tolist())
    return RunRecord(
        strategy=job.strategy,
        seed=job.seed,
        final_acc=final_accuracy(evaluator, best.arch),
        val_acc=best.metrics.get("val_acc"),
        cost=trials[-1].clock,
        arch=space.format(best.arch),
        index=index_or_none(space, best.arch),
        fidelity=str(best.fidelity),
        anytime={str(f): final(t) for f, t in zip(ANYTIME_FRACTIONS, fractions, strict=True)},
        n_trials=len(trials),
        reused=sum(t.state is TrialState.REUSED for t in trials),
        curve=tuple(np.nan if (acc := final(t)) is None else acc for t in curve),
    )


class BenchRunner:
    """What a worker runs: one bench job on the benchmark it was given once (NB201: 1.3 MB of
    arrays, not sent with every job; NB301: its folder, the surrogate reopened there, and the
    proxy table's scores if any)."""

    def __init__(self, bench: Benchmark, proxies: SampleProxies | None = None) -> None:
        self.bench, self.proxies = bench, proxies

    def run(self, job: BenchJob) -> RunRecord:
        return run_one(self.bench, job, self.proxies)


def run_bench(
    bench: Benchmark,
    *,
    dataset: str = "cifar10",
    strategies: Sequence[str] = ("pmf", "rea", "random"),
    seeds: Sequence[int] = tuple(range(30)),
    budget: float | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    storage: str | Path | None = None,
    reuse: bool = True,
    protocol: str = "default",
    workers: int | None = None,
    executor: str = "process",
    address: str | None = None,
    proxies: SampleProxies | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Run every strategy × seed on ``dataset`` (NB301: CIFAR-10 only) and collect the runs in
    (strategy, seed) order.

    ``protocol`` is NB201's 12-epoch signal (``default`` or ``peers``, see the module).
    ``budget`` defaults to the evaluator's (the NATS budget of the dataset; about 100 full
    trainings on NB301); ``params`` maps a strategy to its
    settings (over the evaluator's ladder); ``workers`` (default: one per CPU, at most one per
    run) run on the ``executor`` (``process``: local processes; ``ray``: Ray tasks, on the
    cluster at ``address`` if given), each writing its own runs to ``storage`` through its own
    connection (each run is a separate study; :mod:`pmfnas.storage` serialises the writes and
    waits out locks). ``proxies`` (NB301 only): a DARTS proxy table's scores, the low
    fidelity of every run. ``progress(done, total)`` counts finished runs.
    """
    evaluator = benchmark_evaluator(bench, dataset, protocol, proxies)  # bad names fail here
    space = evaluator.space
    if budget is None:
        budget = default_budget(evaluator)
    if not budget > 0:
        raise BudgetError(f"the budget must be positive, got {budget:g}")
    if not strategies or len(set(strategies)) != len(strategies):
        raise ConfigError(f"--strategies must name each strategy once, got {','.join(strategies)}")
    if not seeds:
        raise ConfigError("no seeds to run")
    params = params or {}
    if unknown := set(params) - set(strategies):
        raise ConfigError(f"parameters for {', '.join(sorted(unknown))}, which is not run")
    # Build each strategy once here, so a bad name or parameter fails before any worker starts.
    settings = {
        name: SearchSpec(evaluator, name, budget, params=params.get(name, {}), space=space)
        .build_strategy()
        .params()
        for name in strategies
    }
    if storage is not None:
        Storage(storage).close()  # a foreign or newer file fails here, before any worker starts
    jobs = [
        BenchJob(
            name,
            seed,
            dataset,
            budget,
            params.get(name, {}),
            storage and str(storage),
            reuse,
            protocol,
        )
        for name in strategies
        for seed in seeds
    ]
    workers = min(os.cpu_count() or 1, len(jobs)) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"--workers must be a positive number of processes, got {workers}")
    records = _run_jobs(BenchRunner(bench, proxies), jobs, workers, progress, executor, address)
    benchmark = evaluator.describe()["benchmark"]
    space_best = (
        float(np.nanmax(bench.array("test_acc_200", dataset)))
        if isinstance(bench, NB201Benchmark)
        else None  # NB301: not known
    )
    table = proxies.source if proxies is not None else None
    return BenchResult(
        benchmark, dataset, budget, reuse, protocol, space_best, settings, records, table
    )


def _run_jobs(
    runner: BenchRunner,
    jobs: list[BenchJob],
    workers: int,
    progress: Callable[[int, int], None] | None,
    executor: str = "process",
    address: str | None = None,
) -> list[RunRecord]:
    """Every job's record, in job order: in this process with one worker, else on the
    executor's workers (local processes or Ray), as many runs at once as there are workers. A
    run whose worker died is run again once (from its stored trials, with a storage file)."""
    if progress:
        progress(0, len(jobs))
    if workers == 1 or len(jobs) == 1:
        records = []
        for job in jobs:
            records.append(runner.run(job))
            if progress:
                progress(len(records), len(jobs))
        return records
    pool = create_executor(executor, min(workers, len(jobs)), threads=1, address=address)
    results: dict[int, RunRecord] = {}
    lost: set[int] = set()
    waiting = list(reversed(range(len(jobs))))
    try:  # leaving early (an error, Ctrl-C) stops the runs still going; their trials are stored
        pool.start_runner(runner)
        while len(results) < len(jobs):
            while waiting and pool.running < pool.workers:
                number = waiting.pop()
                pool.submit(number, jobs[number])
            number, outcome = pool.wait()
            if isinstance(outcome, Result):  # its worker died
                if number in lost:
                    raise PmfnasError(f"run {jobs[number]} lost its worker twice: {outcome.error}")
                lost.add(number)
                waiting.append(number)
                continue
            results[number] = outcome
            if progress:
                progress(len(results), len(jobs))
    finally:
        pool.close()
    return [results[i] for i in range(len(jobs))]
