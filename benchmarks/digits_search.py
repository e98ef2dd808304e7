"""PMF against random search by real training on digits, at the same wall-clock budget (issue 5).

Each (strategy, seed) is one ``pmfnas search --data digits --budget B`` run through the API with
the strategy's real-training defaults. ``--jobs`` runs go side by side, each on ``--threads``
torch threads; the runs of one seed are queued next to each other, so that with one job per
strategy they run at the same time and machine load hits them alike. The test accuracy is the one
measured when the returned architecture was trained (never used to choose it). One training's
test accuracy varies by about half a point with its seed alone, so ``--retrain K`` also trains
each returned architecture again with K other seeds (1000, 1001, ...) at its returned fidelity
and records their mean test accuracy: the architecture's accuracy, as NAS-Bench-201's tables give
it, rather than one training's. Writes ``benchmarks/results/digits_search.json``; runs already in
that file (same data, budget, jobs, threads and options) are kept, not rerun, so more seeds (and
retrainings) can be added later.

    python benchmarks/digits_search.py [--seeds 0-7] [--budget 180] [--strategies pmf,random]
        [--jobs 2 --threads 1] [--retrain 5] [-o pmf.medium=epochs=3,horizon=12 --out other.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from pmfnas.cli.options import parse_seeds, parse_strategy_options
from pmfnas.evaluators.base import Ladder
from pmfnas.runs.profiles import real_data_evaluator, training_evaluator
from pmfnas.runs.search import run_training_search
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.strategies import create_strategy
from pmfnas.types import Fidelity
from pmfnas.units import parse_duration

RETRAIN_SEED = 1000
"""Retraining seeds start here, apart from any search seed."""


def earlier_runs(
    path: Path, conditions: dict[str, Any], params: dict[str, dict[str, Any]]
) -> list[dict]:
    """The runs of an earlier report made under the same conditions whose strategy ran with the
    parameters it would get now (a changed default is a different search)."""
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    if any(report.get(k) != v for k, v in conditions.items()):
        return []
    return [r for r in report["runs"] if r.get("params") == params.get(r["strategy"])]


def effective_params(strategy: str, params: dict[str, Any], ladder: Ladder) -> dict[str, Any]:
    """What the strategy runs with, as a run's summary stores it: its own defaults and the
    evaluator's ``ladder`` (whose PMF parameters it takes in) under ``params``."""
    made = create_strategy(strategy, NB201Space(), ladder=ladder, **params)
    return json.loads(json.dumps(made.params()))


def search(
    data: str, strategy: str, seed: int, budget: float, threads: int, params: dict[str, Any]
) -> dict[str, Any]:
    """One search at the strategy's real-training defaults under ``params``, timed."""
    torch.set_num_threads(threads)
    evaluator = real_data_evaluator(training_evaluator(data, seed=seed))
    start = time.perf_counter()
    summary = run_training_search(
        evaluator, strategy=strategy, budget=budget, seed=seed, params=params
    )
    summary["real_s"] = time.perf_counter() - start
    print(
        f"{strategy:8s} seed {seed}: test {summary['test_acc']:.2f} "
        f"val {summary['val_acc']:.2f} {summary['trials']}",
        flush=True,
    )
    return summary


def retrain(data: str, arch: str, fidelity: str, seed: int, threads: int) -> float:
    """Test accuracy of ``arch`` trained again at ``fidelity`` with ``seed``."""
    torch.set_num_threads(threads)
    evaluator = training_evaluator(data, seed=seed)
    result = evaluator.evaluate(NB201Space().parse(arch), Fidelity.parse(fidelity))
    return result.private["test_acc"]


def add_retrainings(runs: list[dict], data: str, count: int, jobs: int, threads: int) -> None:
    """Give every run ``count`` retrainings of its returned architecture (kept ones stay)."""
    todo = [
        (run, seed)
        for run in runs
        for seed in range(RETRAIN_SEED + len(run.get("retrain_test_acc", [])), RETRAIN_SEED + count)
    ]
    calls = [(data, run["arch"], run["fidelity"], seed, threads) for run, seed in todo]
    with ProcessPoolExecutor(jobs) as pool:
        accuracies = list(pool.map(retrain, *zip(*calls, strict=True))) if calls else []
    for (run, _), accuracy in zip(todo, accuracies, strict=True):
        run.setdefault("retrain_test_acc", []).append(accuracy)
    for run in runs:
        if run.get("retrain_test_acc"):
            run["retrain_test_acc_mean"] = statistics.mean(run["retrain_test_acc"])


def paired(runs: list[dict], first: str, second: str, key: str) -> dict[str, float] | None:
    """``first`` minus ``second`` in ``key``, seed by seed: mean, standard error, tallies
    (``None`` when no seed has both)."""
    by_seed: dict[int, dict[str, float]] = {}
    for r in runs:
        if key in r:
            by_seed.setdefault(r["seed"], {})[r["strategy"]] = r[key]
    gaps = [s[first] - s[second] for s in by_seed.values() if first in s and second in s]
    if not gaps:
        return None
    return {
        "seeds": len(gaps),
        "mean_gap": statistics.mean(gaps),
        "gap_std_error": statistics.stdev(gaps) / len(gaps) ** 0.5 if len(gaps) > 1 else 0.0,
        "wins": sum(g > 0 for g in gaps),
        "ties": sum(g == 0 for g in gaps),
        "losses": sum(g < 0 for g in gaps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-7")
    parser.add_argument("--budget", default="180")
    parser.add_argument("--strategies", default="pmf,random")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("-o", "--option", action="append", default=[], help="STRATEGY.KEY=VALUE")
    parser.add_argument("--retrain", type=int, default=0, help="retrainings per returned arch")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "digits_search.json"
    )
    args = parser.parse_args()
    budget = parse_duration(args.budget)
    strategies = args.strategies.split(",")
    params = parse_strategy_options(args.option, strategies)
    conditions = {
        "data": args.data,
        "budget_s": budget,
        "jobs": args.jobs,
        "torch_threads": args.threads,
        "options": args.option,
    }

    ladder = real_data_evaluator(training_evaluator(args.data)).ladder
    current = {s: effective_params(s, params[s], ladder) for s in strategies}
    runs = earlier_runs(args.out, conditions, current)
    done = {(r["strategy"], r["seed"]) for r in runs}
    todo = [
        (args.data, strategy, seed, budget, args.threads, params[strategy])
        for seed in parse_seeds(args.seeds)
        for strategy in strategies
        if (strategy, seed) not in done
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        for run in pool.map(search, *zip(*todo, strict=True)) if todo else []:
            runs.append(run)
            write_report(args.out, conditions, strategies, runs)  # a stop loses no finished run
    if args.retrain:
        add_retrainings(runs, args.data, args.retrain, args.jobs, args.threads)
    for strategy, row in write_report(args.out, conditions, strategies, runs).items():
        retrained = row.get("retrain_test_acc_mean")
        again = (
            f", retrained {retrained:.2f} ± {row['retrain_test_acc_std']:.2f}" if retrained else ""
        )
        print(f"{strategy:8s} test {row['test_acc_mean']:.2f} ± {row['test_acc_std']:.2f}{again}")


def write_report(
    path: Path, conditions: dict[str, Any], asked: list[str], runs: list[dict]
) -> dict[str, dict]:
    """Write the conditions, the summary per strategy, the paired gaps and every run; the
    summary is returned."""
    strategies = asked + sorted({r["strategy"] for r in runs} - set(asked))  # kept from earlier
    runs.sort(key=lambda r: (r["seed"], strategies.index(r["strategy"])))
    table = {}
    for strategy in strategies:
        mine = [r for r in runs if r["strategy"] == strategy]
        if not mine:
            continue
        tests = [r["test_acc"] for r in mine]
        table[strategy] = {
            "test_acc_mean": statistics.mean(tests),
            "test_acc_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "val_acc_mean": statistics.mean(r["val_acc"] for r in mine),
            "top_fidelity_trainings_mean": statistics.mean(
                r["trials"].get(r["fidelity"], 0) for r in mine
            ),
            "runs": len(mine),
            "strategy_share_of_wall_time": sum(r["strategy_s"] for r in mine)
            / sum(r["wall_s"] for r in mine),
        }
        retrained = [r["retrain_test_acc_mean"] for r in mine if "retrain_test_acc_mean" in r]
        if len(retrained) > 1:
            table[strategy]["retrain_test_acc_mean"] = statistics.mean(retrained)
            table[strategy]["retrain_test_acc_std"] = statistics.stdev(retrained)
    report = {
        **conditions,
        "summary": table,
        "paired": {
            key: paired(runs, *strategies[:2], key) for key in ("test_acc", "retrain_test_acc_mean")
        }
        if len(strategies) > 1
        else None,
        "runs": runs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return table


if __name__ == "__main__":
    main()
