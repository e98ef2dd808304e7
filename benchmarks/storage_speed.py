"""What ``--storage`` costs a tabular search (issue 15, item 5).

Runs the tabular PMF search of ``pmfnas search --benchmark nb201`` (the dataset's NATS budget,
about 15,700 trials: every cell scored by proxy, then the trainings) for a few seeds, in memory
and with a fresh storage file, and times each; then reruns the stored command, which replays the
stored study instead of evaluating it. Several commit policies are timed by setting the storage
module's constants, the one pmfnas uses (its defaults) among them. Writes
``benchmarks/results/storage_speed.json``.

    PMFNAS_DATA=../shared/data python benchmarks/storage_speed.py [--seeds 3] [--dataset ImageNet16-120]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

from pmfnas import storage
from pmfnas.runs.search import run_search
from pmfnas.tables.nb201 import NB201Benchmark

POLICIES: dict[str, dict[str, Any]] = {
    "pmfnas (defaults)": {},
    "one commit per trial": {"BATCH_TRIALS": 1},
    "one commit per trial, synchronous=NORMAL": {"BATCH_TRIALS": 1, "SYNCHRONOUS": "NORMAL"},
}
"""Commit policy → the storage constants it sets; the first is what pmfnas ships."""


def patched(values: dict[str, Any]) -> ExitStack:
    """The storage module with ``values`` for some of its constants while the block runs."""
    stack = ExitStack()
    for name, value in values.items():
        stack.enter_context(mock.patch.object(storage, name, value))
    return stack


def timed(bench: NB201Benchmark, **kwargs: Any) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    summary = run_search(bench, strategy="pmf", **kwargs)
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dataset", default="ImageNet16-120")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "storage_speed.json"
    )
    args = parser.parse_args()
    bench = NB201Benchmark.load()
    runs: dict[str, dict[str, list[float]]] = {"in memory": {"search_s": []}}
    trials = []
    for seed in range(args.seeds):
        seconds, plain = timed(bench, dataset=args.dataset, seed=seed)
        runs["in memory"]["search_s"].append(seconds)
        trials.append(plain["n_trials"])
        for policy, constants in POLICIES.items():
            times = runs.setdefault(policy, {"search_s": [], "resume_s": []})
            with tempfile.TemporaryDirectory() as folder, patched(constants):
                db = Path(folder) / "runs.db"
                seconds, stored = timed(bench, dataset=args.dataset, seed=seed, storage=db)
                times["search_s"].append(seconds)
                seconds, resumed = timed(bench, dataset=args.dataset, seed=seed, storage=db)
                times["resume_s"].append(seconds)
            if not stored["arch"] == resumed["arch"] == plain["arch"]:
                raise AssertionError(
                    f"seed {seed}, {policy}: the stored search returned another cell"
                )
        print(
            f"seed {seed}: {plain['n_trials']} trials, "
            + ", ".join(f"{name} {times['search_s'][-1]:.2f} s" for name, times in runs.items())
        )
    memory = statistics.mean(runs["in memory"]["search_s"])
    report: dict[str, Any] = {
        "dataset": args.dataset,
        "strategy": "pmf",
        "seeds": args.seeds,
        "trials_per_search": statistics.mean(trials),
        "policies": {name: dict(constants) for name, constants in POLICIES.items()},
        "runs": {},
    }
    for name, times in runs.items():
        row = {key: {"mean": statistics.mean(v), "max": max(v)} for key, v in times.items()}
        row["slowdown"] = statistics.mean(times["search_s"]) / memory
        report["runs"][name] = row
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, row in report["runs"].items():
        resume = f", resume {row['resume_s']['mean']:.2f} s" if "resume_s" in row else ""
        print(f"{name:>40}: {row['search_s']['mean']:.2f} s ({row['slowdown']:.2f}x){resume}")
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
