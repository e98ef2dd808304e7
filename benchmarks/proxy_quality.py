"""Zero-cost proxy quality on NAS-Bench-201 with real CIFAR-10 images (issue 3's figures).

Computes the proxies of a seeded random sample of NB201 cells into a resumable proxy table (rerun
to continue an interrupted measurement), then reports per proxy Spearman ρ and Kendall τ against
the 200-epoch CIFAR-10 test accuracy, the top-10 % hit rate and the median seconds per
architecture, next to the published ρ. Writes JSON to ``benchmarks/results/``.

    PMFNAS_DATA=../shared/data python benchmarks/proxy_quality.py --sample 1000 --workers 2
    PMFNAS_DATA=../shared/data python benchmarks/proxy_quality.py --sample 200 --width 8 --cells 1

``--computed-only`` computes nothing and scores the cells of the sample already in the table (for
a slow proxy whose measurement was stopped part-way; the JSON records how many cells counted).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pmfnas.evaluators.proxies import list_proxies
from pmfnas.runs.proxies import (
    compute_proxy_table,
    nb201_reference,
    score_proxies,
    select_archs,
)
from pmfnas.tables.nb201 import NB201Benchmark

PUBLISHED_SPEARMAN = {  # NAS-Bench-Suite-Zero / NASLib on CIFAR-10; ZiCo and MeCo: their authors
    "nwot": 0.80, "synflow": 0.78, "params": 0.77, "jacov": 0.73, "snip": 0.65,
    "grad_norm": 0.65, "fisher": 0.55, "grasp": 0.57, "zen": 0.39, "zico": 0.80, "meco": 0.89,
    "flops": None, "mfnas_sum": None, "mfnas_mean": None,
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proxies", default=",".join(list_proxies()))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--computed-only", action="store_true")
    args = parser.parse_args()

    names = tuple(args.proxies.split(","))
    indices = select_archs(str(args.sample), args.seed)
    start = time.perf_counter()
    table = compute_proxy_table(
        "cifar10", names, [] if args.computed_only else indices, table=args.table,
        batch_size=args.batch_size, channels=args.width, cells_per_stage=args.cells,
        seed=args.seed, workers=args.workers,
        progress=lambda done, total: print(f"\r{done}/{total} architectures", end="", flush=True),
    )  # fmt: skip
    print()
    if args.computed_only:
        indices = [i for i in indices if all(table.get(i, n) is not None for n in names)]
    reference = nb201_reference(NB201Benchmark.load(), "cifar10", indices)
    qualities = score_proxies(table, names, indices, reference)
    report = {
        "data": "cifar10 (real CIFAR-10 images, the shared subset)",
        "settings": table.settings,
        "sample": len(indices),
        "wall_seconds_this_run": time.perf_counter() - start,
        "proxies": [
            {**q.as_dict(), "published_spearman": PUBLISHED_SPEARMAN.get(q.proxy)}
            for q in qualities
        ],
    }
    out = args.out or Path(__file__).parent / "results" / (
        f"proxy_quality_C{args.width}_N{args.cells}_b{args.batch_size}_n{args.sample}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for q in qualities:
        print(f"{q.proxy:>10}: ρ {q.spearman:+.3f}  τ {q.kendall:+.3f}  top10 {q.top_hit_rate:.2f}  "
              f"{q.median_seconds:.3f} s  (published ρ {PUBLISHED_SPEARMAN.get(q.proxy)})")  # fmt: skip
    print(f"→ {out}")


if __name__ == "__main__":
    main()
