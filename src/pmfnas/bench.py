"""Strategies compared over many seeds on NAS-Bench-201, under the protocol of ``PEERS.md``.

The ``protocol`` picks the 12-epoch search signal (:data:`~pmfnas.evaluators.tabular.SIGNAL12`):
``default`` shows the 12-epoch validation accuracy, ``peers`` the 12-epoch test accuracy the peers
were first measured with; everything else (costs, budget rule, returned architecture) is the same.

Each (strategy, seed) is one :class:`~pmfnas.study.Study`, exactly what ``pmfnas search`` runs,
so the numbers are those of single searches. The returned architecture is the strategy's own
:meth:`~pmfnas.strategies.base.BaseStrategy.best` rule; *anytime* applies the same rule to the
trials that had finished by a fraction of the budget. Runs are independent, so they go to worker
processes; with a storage file each run is the named study ``<strategy>-<dataset>-seed<seed>``
(``-peers`` appended under the peers' protocol; the name ``run_search`` uses) and a rerun replays
it instead of evaluating again.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pmfnas.benchmarks.nb201 import NATS_BUDGETS, NB201Benchmark
from pmfnas.benchmarks.nb201_proxies import SHIPPED_NAME, shipped_proxies
from pmfnas.errors import BudgetError, ConfigError
from pmfnas.evaluators.tabular import PROTOCOLS, TabularEvaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.storage import Storage
from pmfnas.strategies import create_strategy
from pmfnas.strategies.base import BaseStrategy
from pmfnas.study import CLOCK_TOLERANCE, INTERRUPTED, Study
from pmfnas.types import Trial, TrialState, check_seed
from pmfnas.units import parse_options, plain_int

ANYTIME_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
CURVE_POINTS = 101
"""Cost points (every 1 % of the budget) at which the anytime curve of a run is sampled."""

SIGNAL12_NOTES = {
    "default": "12-epoch validation (x-valid)",
    "peers": "12-epoch test (as the peers were first measured)",
}
"""The 12-epoch signal of each protocol, in words."""
PROTOCOL_NOTES = {
    protocol: f"PEERS.md: NB201 (15,625 cells), signals {signal} / 200-epoch validation accuracy "
    "(CIFAR-100/ImageNet16-120: NASLib's one-seed number, a test-split accuracy), cost = "
    "cifar10-valid train time x dataset ratio, one worker, no evaluation ending past the budget; "
    "returned: best by the highest-fidelity validation evidence, its 200-epoch test accuracy; "
    "anytime: the same rule at 10/25/50/100 % of the budget"
    for protocol, signal in SIGNAL12_NOTES.items()
}
assert set(SIGNAL12_NOTES) == set(PROTOCOLS)
REUSE_NOTES = {
    True: "repeated requests are served free from the run's own earlier trial (peers paid for them)",
    False: "every request is paid, repeats included (as the peers)",
}


def proxy_note() -> str:
    """Which proxy scores a bench serves, for its JSON."""
    arrays = shipped_proxies()
    if not arrays:
        return "recorded zen only (no shipped proxy table)"
    return (
        f"{SHIPPED_NAME} ({', '.join(sorted(arrays))}; computed on CIFAR-10 images, served for "
        "every dataset) and the recorded zen"
    )


MAX_SEEDS = 10_000
"""More seeds than this is a typo (``0-100000``), not a bench: refused before building the list."""

_SEED_ITEM = re.compile(r"([0-9]{1,10})(?:-([0-9]{1,10}))?")
"""A seed or a range of seeds, in ASCII digits (``\\d`` would take other scripts' digits too);
ten digits hold every seed up to :data:`~pmfnas.types.MAX_SEED`."""


def parse_seeds(text: str) -> list[int]:
    """Seeds from a count (``30`` → 0..29), a range (``0-29``) or a list (``0,3,5``, ``0-4,9``)."""
    text = text.strip()
    count = plain_int(text)
    if count is not None:
        if not 1 <= count <= MAX_SEEDS:
            raise ConfigError(f"--seeds count must lie in 1..{MAX_SEEDS}, got {text}")
        return list(range(count))
    seeds: list[int] = []
    for item in text.split(","):
        m = _SEED_ITEM.fullmatch(item.strip())
        if m is None:
            raise ConfigError(f"--seeds must be a count, A-B or a list like 0,3,5; got {text!r}")
        first = check_seed(int(m.group(1)))
        last = check_seed(int(m.group(2) or m.group(1)))
        if last < first:
            raise ConfigError(f"--seeds range {item.strip()!r} ends before it starts")
        if len(seeds) + last - first >= MAX_SEEDS:
            raise ConfigError(f"--seeds {text!r} names more than {MAX_SEEDS} seeds")
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r} names a seed twice")
    return seeds


def parse_strategy_options(items: Sequence[str], strategies: Sequence[str]) -> dict[str, dict]:
    """``["rea.population=20"]`` → ``{"rea": {"population": 20}, ...}``; each names a strategy run."""
    params: dict[str, dict[str, Any]] = {name: {} for name in strategies}
    for item in items:
        key, equals, _ = item.partition("=")
        name, dot, param = key.partition(".")
        if not (equals and dot and param):
            raise ConfigError(f"option {item!r} must be STRATEGY.KEY=VALUE, e.g. rea.population=20")
        if name not in params:
            raise ConfigError(f"option {item!r} is for {name!r}, which is not among --strategies")
        params[name].update(parse_options([item[len(name) + 1 :]]))
    return params


def study_name(strategy: str, dataset: str, seed: int, protocol: str = "default") -> str:
    """The study of one run: the default name of ``run_search``, so both share stored studies;
    ``-peers`` marks the peers' protocol, so one file can hold the runs of both."""
    suffix = "" if protocol == "default" else f"-{protocol}"
    return f"{strategy}-{dataset}-seed{seed}{suffix}"


def anytime_best(
    strategy: BaseStrategy, trials: Sequence[Trial], points: Sequence[float]
) -> list[Trial | None]:
    """The strategy's returned trial had the search stopped at each cost point.

    That is ``strategy.best`` of the trials whose clock (budget spent after them) is at most the
    point; ``trials`` are in study order, so the clock never decreases and they form a prefix.
    """
    clocks = [t.clock for t in trials]
    picks: dict[int, Trial | None] = {}
    result = []
    for point in points:
        n = bisect.bisect_right(clocks, point + CLOCK_TOLERANCE)
        if n not in picks:
            picks[n] = strategy.best(trials[:n])
        result.append(picks[n])
    return result


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


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one (strategy, seed) search; ``curve`` is the anytime test accuracy at the
    :data:`CURVE_POINTS` evenly spaced costs ``0..budget`` (NaN before any evidence)."""

    strategy: str
    seed: int
    test_acc: float
    val_acc: float | None  # None when the returned trial is proxy-only evidence (MFNAS)
    cost: float
    arch: str
    index: int
    fidelity: str
    anytime: dict[str, float | None]
    n_trials: int
    reused: int
    curve: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "curve"}


def run_one(bench: NB201Benchmark, job: BenchJob) -> RunRecord:
    """Search once and read the returned and anytime architectures' 200-epoch test accuracy."""
    space = NB201Space()
    evaluator = TabularEvaluator(
        bench, job.dataset, proxies=shipped_proxies(), protocol=job.protocol
    )
    strategy = create_strategy(job.strategy, space, seed=job.seed, **job.params)
    db = Storage(job.storage) if job.storage else None
    try:
        name = study_name(job.strategy, job.dataset, job.seed, job.protocol)
        study = Study(
            space, evaluator, strategy, job.budget, storage=db, name=name, reuse=job.reuse
        )
        result = study.run()  # a stored run with a larger budget is cut at this one
    finally:
        if db:
            db.close()
    if result.stop_reason == INTERRUPTED:
        raise KeyboardInterrupt  # a partial run is no record; its stored trials replay next time
    trials, best = result.trials, result.best
    if best is None:
        raise BudgetError(
            f"{job.strategy}, seed {job.seed}: a budget of {job.budget:g} s does not pay for a "
            "single evaluation"
        )

    def test(trial: Trial | None) -> float | None:
        return None if trial is None else evaluator.test_accuracy(trial.arch)

    fractions = anytime_best(strategy, trials, [f * job.budget for f in ANYTIME_FRACTIONS])
    curve = anytime_best(strategy, trials, np.linspace(0.0, job.budget, CURVE_POINTS).tolist())
    return RunRecord(
        strategy=job.strategy,
        seed=job.seed,
        test_acc=evaluator.test_accuracy(best.arch),
        val_acc=best.metrics.get("val_acc"),
        cost=trials[-1].clock,
        arch=space.format(best.arch),
        index=space.index(best.arch),
        fidelity=str(best.fidelity),
        anytime={str(f): test(t) for f, t in zip(ANYTIME_FRACTIONS, fractions, strict=True)},
        n_trials=len(trials),
        reused=sum(t.state is TrialState.REUSED for t in trials),
        curve=tuple(np.nan if (acc := test(t)) is None else acc for t in curve),
    )


def _stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean, sample std and count of the values present (``None`` = no architecture yet)."""
    present = [v for v in values if v is not None]
    return {
        "mean": float(np.mean(present)) if present else None,
        "std": float(np.std(present, ddof=1)) if len(present) > 1 else None,
        "runs": len(present),
    }


@dataclass(frozen=True)
class BenchResult:
    """Every run of a bench, in (strategy, seed) order, with what is needed to aggregate them."""

    benchmark: str
    dataset: str
    budget: float
    reuse: bool
    protocol: str
    space_best: float
    """The best 200-epoch test accuracy in the space: regret is measured from it."""
    params: dict[str, dict[str, Any]]
    runs: list[RunRecord]

    @property
    def strategies(self) -> list[str]:
        return list(self.params)

    def of(self, strategy: str) -> list[RunRecord]:
        return [r for r in self.runs if r.strategy == strategy]

    def curve(self, strategy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cost points, and the mean and sample std over seeds of the anytime test accuracy there
        (over the seeds that had an architecture at that cost; NaN where none or one had)."""
        acc = np.ma.masked_invalid(np.array([r.curve for r in self.of(strategy)]))
        points = np.linspace(0.0, self.budget, CURVE_POINTS)
        return points, acc.mean(axis=0).filled(np.nan), acc.std(axis=0, ddof=1).filled(np.nan)

    def summary(self) -> list[dict[str, Any]]:
        """Per strategy: test accuracy, regret, cost and anytime test accuracy over the seeds."""
        rows = []
        for name in self.strategies:
            runs = self.of(name)
            test = _stats([r.test_acc for r in runs])
            rows.append(
                {
                    "strategy": name,
                    "params": self.params[name],
                    "runs": len(runs),
                    "test_acc": test,
                    "regret": self.space_best - test["mean"],
                    "cost": float(np.mean([r.cost for r in runs])),
                    "n_trials": float(np.mean([r.n_trials for r in runs])),
                    "reused": float(np.mean([r.reused for r in runs])),
                    "anytime": {
                        str(f): _stats([r.anytime[str(f)] for r in runs]) for f in ANYTIME_FRACTIONS
                    },
                }
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "dataset": self.dataset,
            "budget": self.budget,
            "reuse": self.reuse,
            "reuse_note": REUSE_NOTES[self.reuse],
            "protocol": self.protocol,
            "protocol_note": PROTOCOL_NOTES[self.protocol],
            "proxies": proxy_note(),
            "space_best_test_acc": self.space_best,
            "summary": self.summary(),
            "results": [r.to_json() for r in self.runs],
        }


_worker_bench: NB201Benchmark | None = None


def _init_worker(bench: NB201Benchmark) -> None:
    """Receive the benchmark once per process (1.3 MB of arrays), not once per run.

    Workers ignore Ctrl-C, which the terminal sends to them too: the main process alone stops
    the bench, and terminates them.
    """
    global _worker_bench
    _worker_bench = bench
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_in_worker(numbered: tuple[int, BenchJob]) -> tuple[int, RunRecord]:
    assert _worker_bench is not None, "worker used before its initializer ran"
    number, job = numbered
    return number, run_one(_worker_bench, job)


def run_bench(
    bench: NB201Benchmark,
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
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Run every strategy × seed on ``dataset`` and collect the runs in (strategy, seed) order.

    ``protocol`` is the 12-epoch signal (``default`` or ``peers``, see the module). ``budget`` defaults to the NATS budget of the dataset; ``params`` maps a strategy to its
    settings; ``workers`` (default: one per CPU, at most one per run) are spawned processes, each
    writing its own runs to ``storage`` through its own connection (each run is a separate study;
    :mod:`pmfnas.storage` serialises the writes and waits out locks). ``progress(done, total)``
    counts finished runs.
    """
    space = NB201Space()
    TabularEvaluator(bench, dataset, protocol=protocol)  # bad names fail before any work
    if budget is None:
        budget = NATS_BUDGETS[dataset]
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
        name: create_strategy(name, space, seed=0, **params.get(name, {})).params()
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
    records = _run_jobs(bench, jobs, workers, progress)
    space_best = float(np.nanmax(bench.array("test_acc_200", dataset)))
    return BenchResult("nb201", dataset, budget, reuse, protocol, space_best, settings, records)


def _run_jobs(
    bench: NB201Benchmark,
    jobs: list[BenchJob],
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> list[RunRecord]:
    if progress:
        progress(0, len(jobs))
    if workers == 1 or len(jobs) == 1:
        records = []
        for job in jobs:
            records.append(run_one(bench, job))
            if progress:
                progress(len(records), len(jobs))
        return records
    results: dict[int, RunRecord] = {}
    context = multiprocessing.get_context("spawn")  # the same in every OS, and torch-safe
    # Leaving the pool's block terminates the workers: on an error or an interrupt, runs still
    # going stop at once (their finished trials are stored; a rerun continues them).
    with context.Pool(min(workers, len(jobs)), _init_worker, (bench,)) as pool:
        for number, record in pool.imap_unordered(_run_in_worker, enumerate(jobs)):
            results[number] = record
            if progress:
                progress(len(results), len(jobs))
    return [results[i] for i in range(len(jobs))]
