"""G-ICSO-NAS against PMF-NAS at the same wall time on the same data: the choice a user makes.

For each seed, G-ICSO searches under the one-shot ``cpu`` profile; PMF then searches by real
training (``pmfnas search --data D``, its defaults) with the wall time G-ICSO took as its
budget. Both returned cells are looked up in the NB201 tables (200-epoch test accuracy on the
three datasets; never shown to either search). Writes ``benchmarks/results/gicso_vs_pmf.json``;
run it on a quiet machine.

    python benchmarks/gicso_vs_pmf.py --data-dir ../shared/data [--data cifar-10-jpeg/train]
        [--seeds 0-2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pmfnas.cli.options import parse_seeds
from pmfnas.runs.oneshot import run_oneshot_search, table_accuracies
from pmfnas.runs.profiles import search_evaluator
from pmfnas.runs.search import run_training_search
from pmfnas.spaces import create_space

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--data", default="cifar-10-jpeg/train")
    parser.add_argument("--seeds", default="0-2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    name = str(args.data_dir / args.data) if "/" in args.data else args.data
    space = create_space("nb201")
    runs = []
    for seed in parse_seeds(args.seeds):
        gicso = run_oneshot_search("gicso", data=name, seed=seed, data_dir=args.data_dir)
        budget = gicso["wall_s"]
        evaluator = search_evaluator(name, budget=budget, data_dir=args.data_dir, seed=seed)
        pmf = run_training_search(evaluator, budget=budget, seed=seed)
        for summary in (gicso, pmf):
            arch = space.parse(summary["arch"])
            runs.append(
                {
                    "method": summary["strategy"],
                    "seed": seed,
                    "wall_s": summary["wall_s"],
                    "arch": summary["arch"],
                    "test_acc": table_accuracies(space, arch, args.data_dir),
                }
            )
            print(json.dumps(runs[-1]), flush=True)
    report = {"data": args.data, "budget": "G-ICSO's wall time, per seed", "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "gicso_vs_pmf.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
