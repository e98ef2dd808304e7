"""Speed and quality of tabular searches on NAS-Bench-201 (issue 2's figures).

Measures (1) how long loading the cached benchmark takes, (2) the real time of one REA / random
search at the NATS budgets, and (3) the mean 200-epoch test accuracy over 30 seeds of each, next
to the published NAS-Bench-201 figures. Writes ``benchmarks/results/search_speed.json``.

    PMFNAS_DATA=../shared/data python benchmarks/search_speed.py [--seeds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pmfnas.runs.search import run_search
from pmfnas.tables.nb201 import NATS_BUDGETS, NB201Benchmark

PUBLISHED_TEST = {  # NAS-Bench-201 paper (Dong & Yang, ICLR 2020), Table 5, mean test accuracy
    "rea": {"cifar10": 93.92, "cifar100": 71.84, "ImageNet16-120": 45.54},
    "random": {"cifar10": 93.70, "cifar100": 71.04, "ImageNet16-120": 44.57},
}

COLD_LOAD = (
    "import time; t = time.perf_counter(); "
    "from pmfnas.tables.nb201 import NB201Benchmark; NB201Benchmark.load(); "
    "print(time.perf_counter() - t)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "search_speed.json"
    )
    args = parser.parse_args()

    NB201Benchmark.load()  # make sure the cache exists before timing the load
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        bench = NB201Benchmark.load()
        loads.append(time.perf_counter() - start)

    cold = subprocess.run(
        [sys.executable, "-c", COLD_LOAD], capture_output=True, text=True, check=True
    )
    report: dict = {
        "cache_load_s": {"median": statistics.median(loads), "max": max(loads)},
        "cold_process_import_and_load_s": float(cold.stdout),
        "searches": {},
    }
    total_start = time.perf_counter()
    for dataset, budget in NATS_BUDGETS.items():
        for strategy in ("rea", "random"):
            times, tests, trials = [], [], []
            for seed in range(args.seeds):
                start = time.perf_counter()
                summary = run_search(
                    bench, dataset=dataset, strategy=strategy, budget=budget, seed=seed
                )
                times.append(time.perf_counter() - start)
                tests.append(summary["test_acc"])
                trials.append(summary["n_trials"])
            report["searches"][f"{strategy}/{dataset}"] = {
                "budget_s": budget,
                "seeds": args.seeds,
                "real_time_per_search_s": {"mean": statistics.mean(times), "max": max(times)},
                "test_acc": {"mean": statistics.mean(tests), "std": statistics.stdev(tests)},
                "published_test_acc": PUBLISHED_TEST[strategy][dataset],
                "trials_per_search": statistics.mean(trials),
            }
            print(
                f"{strategy:>7} {dataset:>15}: test {statistics.mean(tests):.2f} ± "
                f"{statistics.stdev(tests):.2f}, {statistics.mean(times) * 1000:.1f} ms/search"
            )
    report["total_real_time_s"] = time.perf_counter() - total_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"cache load {report['cache_load_s']['median'] * 1000:.1f} ms; "
        f"all searches {report['total_real_time_s']:.1f} s → {args.out}"
    )


if __name__ == "__main__":
    main()
