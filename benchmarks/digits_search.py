"""PMF against random search by real training on digits, at the same wall-clock budget (issue 5).

Each (strategy, seed) is one ``pmfnas search --data digits --budget B`` run through the API with
the strategy's real-training defaults; strategies alternate within a seed so that machine load
hits both alike. The test accuracy is the one measured when the returned architecture was
trained (never used to choose it). Writes ``benchmarks/results/digits_search.json``; runs
already in that file (same data and budget) are kept, not rerun, so more seeds can be added later.

    python benchmarks/digits_search.py [--seeds 0-7] [--budget 180] [--strategies pmf,random]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pmfnas.api import real_data_evaluator, run_training_search, training_evaluator
from pmfnas.bench import parse_seeds
from pmfnas.units import parse_duration


def earlier_runs(path: Path, data: str, budget: float) -> list[dict]:
    """The runs of an earlier report with the same data and budget (none otherwise)."""
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    return report["runs"] if (report["data"], report["budget_s"]) == (data, budget) else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-7")
    parser.add_argument("--budget", default="180")
    parser.add_argument("--strategies", default="pmf,random")
    parser.add_argument("--data", default="digits")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "digits_search.json"
    )
    args = parser.parse_args()
    budget = parse_duration(args.budget)
    strategies = args.strategies.split(",")

    runs = earlier_runs(args.out, args.data, budget)
    done = {(r["strategy"], r["seed"]) for r in runs}
    for seed in parse_seeds(args.seeds):
        for strategy in strategies:
            if (strategy, seed) in done:
                continue
            evaluator = real_data_evaluator(training_evaluator(args.data, seed=seed))
            start = time.perf_counter()
            summary = run_training_search(
                evaluator, strategy=strategy, budget=budget, seed=seed, reuse=True
            )
            summary["real_s"] = time.perf_counter() - start
            runs.append(summary)
            print(
                f"{strategy:8s} seed {seed}: test {summary['test_acc']:.2f} "
                f"val {summary['val_acc']:.2f} {summary['trials']}",
                flush=True,
            )

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
            "runs": len(mine),
        }
    report = {
        "data": args.data,
        "budget_s": budget,
        "torch_threads": torch.get_num_threads(),
        "summary": table,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for strategy, row in table.items():
        print(f"{strategy:8s} test {row['test_acc_mean']:.2f} ± {row['test_acc_std']:.2f}")


if __name__ == "__main__":
    main()
