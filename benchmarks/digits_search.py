"""PMF against random search by real training on digits, at the same wall-clock budget (issue 5).

Each (strategy, seed) is one ``pmfnas search --data digits --budget B`` run through the API with
the strategy's real-training defaults. ``--jobs`` runs go side by side, each on ``--threads``
torch threads; the runs of one seed are queued next to each other, so that with one job per
strategy they run at the same time and machine load hits them alike. The test accuracy is the one
measured when the returned architecture was trained (never used to choose it). Writes
``benchmarks/results/digits_search.json``; runs already in that file (same data, budget, jobs and
threads) are kept, not rerun, so more seeds can be added later.

    python benchmarks/digits_search.py [--seeds 0-7] [--budget 180] [--strategies pmf,random]
        [--jobs 2 --threads 1] [-o pmf.medium=epochs=3,horizon=12 --out other.json]
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

from pmfnas.api import real_data_evaluator, run_training_search, training_evaluator
from pmfnas.bench import parse_seeds, parse_strategy_options
from pmfnas.units import parse_duration


def earlier_runs(path: Path, conditions: dict[str, Any]) -> list[dict]:
    """The runs of an earlier report made under the same conditions (none otherwise)."""
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    return report["runs"] if all(report.get(k) == v for k, v in conditions.items()) else []


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


def paired(runs: list[dict], first: str, second: str) -> dict[str, float]:
    """``first`` minus ``second`` in test accuracy, seed by seed: mean, standard error, tallies."""
    by_seed: dict[int, dict[str, float]] = {}
    for r in runs:
        by_seed.setdefault(r["seed"], {})[r["strategy"]] = r["test_acc"]
    gaps = [s[first] - s[second] for s in by_seed.values() if first in s and second in s]
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

    runs = earlier_runs(args.out, conditions)
    done = {(r["strategy"], r["seed"]) for r in runs}
    todo = [
        (args.data, strategy, seed, budget, args.threads, params[strategy])
        for seed in parse_seeds(args.seeds)
        for strategy in strategies
        if (strategy, seed) not in done
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs += list(pool.map(search, *zip(*todo, strict=True))) if todo else []

    strategies += sorted({r["strategy"] for r in runs} - set(strategies))  # kept from earlier
    runs.sort(key=lambda r: (r["seed"], strategies.index(r["strategy"])))
    table = {}
    for strategy in strategies:
        mine = [r for r in runs if r["strategy"] == strategy]
        tests = [r["test_acc"] for r in mine]
        table[strategy] = {
            "test_acc_mean": statistics.mean(tests),
            "test_acc_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "val_acc_mean": statistics.mean(r["val_acc"] for r in mine),
            "top_fidelity_trainings_mean": statistics.mean(
                r["trials"].get(r["fidelity"], 0) for r in mine
            ),
            "runs": len(mine),
        }
    report = {
        **conditions,
        "summary": table,
        "paired": paired(runs, *strategies[:2]) if len(strategies) > 1 else None,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for strategy, row in table.items():
        print(f"{strategy:8s} test {row['test_acc_mean']:.2f} ± {row['test_acc_std']:.2f}")


if __name__ == "__main__":
    main()
