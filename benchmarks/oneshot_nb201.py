"""One-shot methods on NAS-Bench-201 under one profile: what each derives, scored by the tables.

Every method trains the same supernet (the profile's size) for the same number of epochs on the
same images (one seeded share of the training set, halves for w and α), for each seed; the
returned cell is then looked up in the NB201 tables (200-epoch test accuracy on CIFAR-10,
CIFAR-100 and ImageNet16-120; never shown to the search). Per method: mean and standard
deviation of those accuracies, the share of parameter-free edges (skip, none, pool) in the
returned cells, the worst seed's share, and the search seconds. A method may carry parameters
(``gicso:diversity=0``, ``gicso:fitness=mixture``: the ablations). Writes
``benchmarks/results/oneshot_nb201_<profile>[_<suffix>].json``; run it on a quiet machine.

    python benchmarks/oneshot_nb201.py --data-dir ../shared/data [--methods "darts;gdas;..."]
        [--seeds 0-4] [--epochs 10] [--profile cpu] [--data cifar-10-jpeg/train] [--suffix S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pmfnas.cli.options import parse_seeds
from pmfnas.oneshot import search_oneshot
from pmfnas.oneshot.profiles import PROFILES
from pmfnas.runs.oneshot import create_method, oneshot_data, table_accuracies
from pmfnas.spaces import create_space
from pmfnas.spaces.oneshot import parameter_free_share
from pmfnas.tables.nb201 import NB201_DATASETS
from pmfnas.units import parse_options

RESULTS = Path(__file__).parent / "results"
METHODS = ("darts", "gdas", "drnas", "rsps", "gicso")


def run(label: str, seed: int, data: Any, profile: str, epochs: int, data_dir: Path) -> dict:
    """One search of ``label`` (``name[:key=value,...]``) and its returned cell's scores."""
    space = create_space("nb201")
    method, _, options = label.partition(":")
    searcher = create_method(method, parse_options(options.split(",")) if options else {})
    recipe = replace(PROFILES.get(profile).recipe, **searcher.recipe_changes)
    start = time.perf_counter()
    result = search_oneshot(searcher, space, data, recipe, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - start
    return {
        "method": label,
        "seed": seed,
        "arch": space.format(result.arch),
        "test_acc": table_accuracies(space, result.arch, data_dir),
        "parameter_free": parameter_free_share(space, result.arch),
        "epochs_run": len(result.history),
        "stop_reason": result.stop_reason,
        "supernet_val_acc": result.history[-1].metrics["val_acc"],
        "seconds": seconds,
    }


def summarise(runs: list[dict]) -> dict[str, Any]:
    def mean_std(values: list[float]) -> dict[str, float]:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": round(statistics.fmean(values), 2), "std": round(std, 2)}

    return {
        "test_acc": {ds: mean_std([r["test_acc"][ds] for r in runs]) for ds in NB201_DATASETS},
        "parameter_free": mean_std([r["parameter_free"] for r in runs]),
        "worst_parameter_free": max(r["parameter_free"] for r in runs),
        "seconds": mean_std([r["seconds"] for r in runs]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--data", default="cifar-10-jpeg/train")
    parser.add_argument("--methods", default=";".join(METHODS), help="separated by ';'")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--suffix", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = str(args.data_dir / args.data) if "/" in args.data else args.data
    data = oneshot_data(name, PROFILES.get(args.profile), seed=0, data_dir=args.data_dir)
    suffix = f"_{args.suffix}" if args.suffix else ""
    out = RESULTS / f"oneshot_nb201_{args.profile}{suffix}.json"
    RESULTS.mkdir(exist_ok=True)
    methods = args.methods.split(";")
    runs: list[dict] = []
    for seed in parse_seeds(args.seeds):  # every method per seed first: a cut run compares
        for method in methods:
            runs.append(run(method, seed, data, args.profile, args.epochs, args.data_dir))
            print(json.dumps(runs[-1]), flush=True)
            report = {  # rewritten after every run: a long benchmark keeps what it measured
                "profile": args.profile,
                "data": repr(data),
                "epochs": args.epochs,
                "threads": args.threads,
                "methods": {
                    m: summarise([r for r in runs if r["method"] == m])
                    for m in methods
                    if any(r["method"] == m for r in runs)
                },
                "runs": runs,
            }
            out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
