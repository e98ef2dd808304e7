"""Seconds per architecture of each zero-cost proxy alone, full-size NB201, batch 64 (issue 3).

Median over a seeded sample of architectures, one proxy per call (no shared passes), plus the
issue's combination nwot + synflow + mfnas_sum computed together. Real CIFAR-10 images.
Writes ``benchmarks/results/proxy_speed.json``. Run it on a quiet machine: it measures wall time.

    PMFNAS_DATA=../shared/data python benchmarks/proxy_speed.py [--archs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pmfnas.data import load_dataset
from pmfnas.evaluators.proxies import list_proxies
from pmfnas.evaluators.proxy import ProxyEvaluator
from pmfnas.runs.proxies import select_archs

COMBINATION = ("nwot", "synflow", "mfnas_sum")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "proxy_speed.json"
    )
    args = parser.parse_args()

    evaluator = ProxyEvaluator(load_dataset("cifar10"), batch_size=64)
    cells = [evaluator.space.arch(i) for i in select_archs(str(args.archs), seed=1)]
    evaluator.scores(cells[0], list_proxies())  # warm-up: lazy imports, allocator
    report = {"threads": torch.get_num_threads(), "archs": args.archs, "median_seconds": {}}
    for group in [(name,) for name in list_proxies()] + [COMBINATION]:
        times = []
        for cell in cells:
            start = time.perf_counter()
            evaluator.scores(cell, group)
            times.append(time.perf_counter() - start)
        report["median_seconds"]["+".join(group)] = statistics.median(times)
        print(f"{'+'.join(group):>24}: {statistics.median(times):.3f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
