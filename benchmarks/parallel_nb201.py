"""Searches with k simulated workers on NAS-Bench-201: how much sooner, and as good?

For each dataset (at its NATS budget of virtual seconds, now the workers' wall clock), strategy,
worker count k and seed, one :class:`~pmfnas.parallel.ParallelStudy` on the tabular benchmark
(the default protocol, the shipped proxies). Reported per (dataset, strategy, k): the mean and
standard deviation of the returned architecture's 200-epoch test accuracy, and the virtual time
at which the mean over seeds of the anytime returned architecture's test accuracy first reaches
the 1-worker search's final mean (its share of the budget; ``null`` if never). Writes
``benchmarks/results/parallel_nb201[_<suffix>].json``, rewritten after every search.

    PMFNAS_DATA=../shared/data python benchmarks/parallel_nb201.py [--seeds 0-29]
        [--workers 1,2,4,8] [--strategies pmf,rea,random] [--datasets cifar10,...] [--jobs 2]
        [--suffix S]
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from pmfnas.cli.options import parse_seeds
from pmfnas.evaluators.tabular import TabularEvaluator
from pmfnas.parallel import ParallelStudy
from pmfnas.runs.search import default_budget
from pmfnas.runs.spec import SearchSpec
from pmfnas.study import anytime_best
from pmfnas.tables.nb201 import NB201_DATASETS, NB201Benchmark
from pmfnas.tables.nb201_proxies import shipped_proxies

RESULTS = Path(__file__).parent / "results"
POINTS = 201
"""Virtual times at which the anytime curves are read (0 to the budget)."""
BENCH: dict[str, NB201Benchmark] = {}


def search(dataset: str, strategy: str, workers: int, seed: int) -> dict:
    """One search; its final and anytime test accuracies."""
    bench = BENCH.setdefault("nb201", NB201Benchmark.load())
    evaluator = TabularEvaluator(bench, dataset, proxies=shipped_proxies())
    budget = default_budget(evaluator)
    spec = SearchSpec(evaluator, strategy, budget, seed=seed, space=bench.space)
    study = ParallelStudy(bench.space, evaluator, spec.build_strategy(), budget, workers=workers)
    result = study.run()
    points = np.linspace(0.0, budget, POINTS).tolist()
    curve = anytime_best(study.strategy, result.trials, points)
    return {
        "dataset": dataset,
        "strategy": strategy,
        "workers": workers,
        "seed": seed,
        "test_acc": evaluator.test_accuracy(result.best.arch),
        "trials": len(result.trials),
        "curve": [None if t is None else evaluator.test_accuracy(t.arch) for t in curve],
        "budget": budget,
    }


def reach(curve: list[float], target: float, budget: float) -> float | None:
    """The first virtual time at which ``curve`` (on the POINTS grid) reaches ``target``."""
    for i, value in enumerate(curve):
        if value >= target - 1e-9:
            return round(budget * i / (POINTS - 1), 1)
    return None


def summarise(runs: list[dict], datasets: list[str], strategies: list[str]) -> dict:
    table: dict = {}
    for dataset in datasets:
        for strategy in strategies:
            mine = [r for r in runs if (r["dataset"], r["strategy"]) == (dataset, strategy)]
            serial = [r["test_acc"] for r in mine if r["workers"] == 1]
            target = statistics.fmean(serial) if serial else None
            rows = {}
            for k in sorted({r["workers"] for r in mine}):
                some = [r for r in mine if r["workers"] == k]
                accs = [r["test_acc"] for r in some]
                mean_curve = [
                    statistics.fmean(
                        np.nan if c[i] is None else c[i] for c in (r["curve"] for r in some)
                    )
                    for i in range(POINTS)
                ]
                budget = some[0]["budget"]
                when = None if target is None else reach(mean_curve, target, budget)
                rows[str(k)] = {
                    "seeds": len(some),
                    "test_acc": round(statistics.fmean(accs), 3),
                    "std": round(statistics.stdev(accs), 3) if len(accs) > 1 else 0.0,
                    "trials": round(statistics.fmean(r["trials"] for r in some), 1),
                    "time_to_1_worker_mean": when,
                    "share_of_budget": None if when is None else round(when / budget, 3),
                }
            table.setdefault(dataset, {})[strategy] = rows
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-29")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--strategies", default="pmf,rea,random")
    parser.add_argument("--datasets", default=",".join(NB201_DATASETS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--suffix", default="")
    args = parser.parse_args()
    datasets, strategies = args.datasets.split(","), args.strategies.split(",")
    jobs = [
        (d, s, int(k), seed)
        for d in datasets
        for s in strategies
        for k in args.workers.split(",")
        for seed in parse_seeds(args.seeds)
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"parallel_nb201{'_' + args.suffix if args.suffix else ''}.json"
    runs: list[dict] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for future in as_completed([pool.submit(search, *job) for job in jobs]):
            runs.append(future.result())
            runs.sort(
                key=lambda r: jobs.index((r["dataset"], r["strategy"], r["workers"], r["seed"]))
            )
            report = {  # rewritten after every run: a cut benchmark keeps what it measured
                "protocol": "default (12-epoch validation signal), shipped proxies, NATS budgets",
                "budget": "the dataset's NATS budget in virtual seconds of the workers' clock",
                "table": summarise(runs, datasets, strategies),
                "runs": [{k: v for k, v in r.items() if k != "curve"} for r in runs],
            }
            out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["table"], indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
