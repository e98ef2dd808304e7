"""Size and render time of the HTML report of one large tabular study (issue 15, item 6).

Stores the default PMF search of NAS-Bench-201 on one dataset (CIFAR-100 at the NATS budget:
15,699 trials, nearly all of them proxy scores of the 15,625 cells), then times ``pmfnas report``
on it as a user runs it (a fresh process each time, imports included: its wall time and, less
dependent on what else the machine runs, its CPU time) and measures what it wrote: the page, the
files beside it and the rows of the page's trial table. Writes
``benchmarks/results/report_size.json``.

    PMFNAS_DATA=../shared/data python benchmarks/report_size.py [--repeats 3] [--storage runs.db]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pmfnas.runs.search import run_search
from pmfnas.tables.nb201 import NB201Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--storage", type=Path, help="storage file to keep the study in (default: a scratch one)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "report_size.json"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        storage = args.storage or Path(scratch) / "runs.db"
        start = time.perf_counter()
        summary = run_search(NB201Benchmark.load(), dataset=args.dataset, storage=storage)
        search_s = time.perf_counter() - start  # a rerun on a kept storage file only replays
        folder = Path(scratch) / "report"
        times, cpu = [], []
        for _ in range(args.repeats):
            start, used = time.perf_counter(), _children_cpu()
            subprocess.run(
                [sys.executable, "-m", "pmfnas", "report", str(storage), "--out", str(folder)],
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
            cpu.append(_children_cpu() - used)
        page = (folder / "report.html").read_text(encoding="utf-8")
        files = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    result = {
        "study": {
            "strategy": summary["strategy"],
            "dataset": args.dataset,
            "seed": summary["seed"],
            "trials": summary["n_trials"],
            "trials_per_fidelity": summary["trials"],
            "search_s": search_s,
        },
        "render_s": {"median": statistics.median(times), "min": min(times), "runs": times},
        "render_cpu_s": {"median": statistics.median(cpu), "min": min(cpu), "runs": cpu},
        "page_bytes": files["report.html"],
        "files_bytes": files,
        "page_table_rows": page.rsplit("<tbody>", 1)[1].split("</tbody>")[0].count("<tr>"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{summary['n_trials']} trials: page {files['report.html'] / 1e6:.2f} MB, "
        f"{result['page_table_rows']} table rows, render {statistics.median(times):.1f} s "
        f"({statistics.median(cpu):.1f} s CPU; median of {args.repeats})"
    )


def _children_cpu() -> float:
    """User + system seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
