"""Strategies over 30 seeds on the three NB201 datasets, under the protocol of docs/nb201.md.

Runs :func:`pmfnas.runs.bench.run_bench` at the NATS budgets and writes, per dataset,
``benchmarks/results/bench_nb201_<dataset>[_<suffix>][_peers].json`` (``_peers``: run with
``--protocol peers``, the 12-epoch test signal) and its anytime plot (``.png``),
with ``--report`` also the HTML comparison ``…_report.html`` (the runs then go through a scratch
storage file, which is slower), then prints one Markdown table to set next to the peers' (docs/nb201.md).

    PMFNAS_DATA=../shared/data python benchmarks/bench_nb201.py [--seeds 0-29] [--workers N]
    PMFNAS_DATA=../shared/data python benchmarks/bench_nb201.py \
        --strategies pmf,mfnas,hyperband,rea,random --suffix five --report [--protocol peers]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

from pmfnas.cli.common import fmt
from pmfnas.cli.options import parse_seeds, parse_strategy_options
from pmfnas.evaluators.tabular import PROTOCOLS
from pmfnas.report.anytime import plot_anytime
from pmfnas.report.bench_report import report_storage, write_bench_report
from pmfnas.runs.bench import run_bench
from pmfnas.runs.records import ANYTIME_FRACTIONS
from pmfnas.tables.nb201 import NATS_BUDGETS, NB201Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="pmf,rea,random")
    parser.add_argument("--seeds", default="0-29")
    parser.add_argument("--datasets", default=",".join(NATS_BUDGETS), help="comma-separated")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("-o", "--option", action="append", default=[], help="STRATEGY.KEY=VALUE")
    parser.add_argument("--suffix", default="", help="added to the result file names")
    parser.add_argument("--report", action="store_true", help="also write the HTML report")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="default", help="12-epoch signal")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    params = parse_strategy_options(args.option, strategies)

    bench = NB201Benchmark.load()
    args.out.mkdir(parents=True, exist_ok=True)
    anytime = "/".join(f"{f:.0%}" for f in ANYTIME_FRACTIONS)
    lines = [
        f"| dataset | budget (s) | strategy | test acc | regret | cost (s) | trials | reused "
        f"| anytime {anytime} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in args.datasets.split(","):
        budget = NATS_BUDGETS[dataset]
        start = time.perf_counter()
        parts = [
            f"bench_nb201_{dataset}",
            args.suffix,
            "" if args.protocol == "default" else "peers",
        ]
        stem = args.out / "_".join(p for p in parts if p)
        with report_storage(None) if args.report else nullcontext() as db:
            result = run_bench(
                bench,
                dataset=dataset,
                strategies=strategies,
                params=params,
                seeds=parse_seeds(args.seeds),
                budget=budget,
                protocol=args.protocol,
                workers=args.workers,
                storage=db,
            )
            seconds = time.perf_counter() - start
            if db:  # the page alone: its figures are embedded
                page = write_bench_report(result, db, db.parent / "report")
                shutil.copyfile(page, f"{stem}_report.html")
        stem.with_suffix(".json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
        plot_anytime(result, stem.with_suffix(".png"))
        print(f"{dataset}: {len(result.runs)} runs in {seconds:.1f} s → {stem}.json/.png")
        for row in result.summary():
            test = row["test_acc"]
            points = "/".join(fmt(row["anytime"][str(f)]["mean"]) for f in ANYTIME_FRACTIONS)
            lines.append(
                f"| {dataset} | {budget:g} | {row['strategy']} | {fmt(test['mean'])} ± "
                f"{fmt(test['std'])} | {fmt(row['regret'])} | {row['cost']:.0f} | "
                f"{row['n_trials']:.1f} | {row['reused']:.1f} | {points} |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
