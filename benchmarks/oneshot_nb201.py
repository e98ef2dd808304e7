"""One-shot methods on NAS-Bench-201 (or the DARTS space) under one profile: what each derives,
scored by the tables (or by NAS-Bench-301's surrogate).

Every method trains the same supernet (the profile's size) for the same number of epochs on the
same images (one seeded share of the training set, halves for w and α), for each seed; the
returned cell is then looked up in the NB201 tables (200-epoch test accuracy on CIFAR-10,
CIFAR-100 and ImageNet16-120; never shown to the search). Per method: mean and standard
deviation of those accuracies, the share of parameter-free edges (skip, none, pool) in the
returned cells, the worst seed's share, and the search seconds; per run also the share of each
epoch's derived cell (a collapse shows as a rising share). ``--space darts`` runs the same
methods on the DARTS supernet (the profile's DARTS setting) and scores each returned genotype by
the surrogate's predicted 98-epoch CIFAR-10 validation accuracy; its parameter-free share is the
normal cell's (skip connections and pooling among its 8 edges). A method may carry parameters
(``gicso:diversity=0``, ``gicso:fitness=mixture``: the ablations). ``--jobs`` runs searches in
that many processes of ``--threads`` threads each (their seconds then include the contention).
Writes ``benchmarks/results/oneshot_<space>_<profile>[_<suffix>].json``, rewritten after every
run; run it on a quiet machine. ``--keep`` keeps the runs already in that file (same setting) and
runs only the missing method and seed pairs, so that a long table can be filled over several
sittings. ``--device cuda`` trains on the GPU; ``--seconds`` ends each search before an epoch
it can no longer pay for in that many wall seconds (its stop reason says so), so that a run on a
lent GPU fits its lease.

    python benchmarks/oneshot_nb201.py --data-dir ../shared/data [--methods "darts;gdas;..."]
        [--seeds 0-4] [--epochs 10] [--profile cpu] [--data cifar-10-jpeg/train] [--suffix S]
        [--jobs 2] [--cells 5] [--space darts] [--images 1000] [--keep] [--device cuda]
        [--seconds 180]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pmfnas.cli.options import parse_seeds
from pmfnas.oneshot import search_oneshot
from pmfnas.oneshot.profiles import space_profile
from pmfnas.runs.oneshot import create_method, oneshot_data, surrogate_accuracy, table_accuracies
from pmfnas.spaces import create_space
from pmfnas.spaces.oneshot import parameter_free_share
from pmfnas.tables.nb201 import NB201_DATASETS
from pmfnas.training.loop import Device
from pmfnas.units import parse_options

RESULTS = Path(__file__).parent / "results"
METHODS = ("darts", "gdas", "drnas", "rsps", "gicso")
DATA: dict[str, Any] = {}
"""The images of this process (each worker loads them once)."""


def load(data_dir: Path, data: str, space: str, profile: str, images: int, threads: int) -> None:
    torch.set_num_threads(threads)
    name = str(data_dir / data) if "/" in data else data
    chosen = space_profile(space, profile)
    chosen = replace(chosen, images=images) if images else chosen
    DATA["data"] = oneshot_data(name, chosen, seed=0, data_dir=data_dir)


def run(
    label: str,
    seed: int,
    space_name: str,
    profile: str,
    epochs: int,
    data_dir: Path,
    cells: int,
    device: str = "cpu",
    seconds: float | None = None,
) -> dict:
    """One search of ``label`` (``name[:key=value,...]``) on ``device``, within ``seconds`` if
    given, and its returned cell's scores."""
    space, data = create_space(space_name), DATA["data"]
    method, _, options = label.partition(":")
    searcher = create_method(method, parse_options(options.split(",")) if options else {})
    recipe = replace(space_profile(space_name, profile).recipe, **searcher.recipe_changes)
    recipe = replace(recipe, cells_per_stage=cells or recipe.cells_per_stage)
    start = time.perf_counter()
    result = search_oneshot(
        searcher,
        space,
        data,
        recipe,
        epochs=epochs,
        seed=seed,
        run=Device.of(device),
        budget=seconds,
    )
    seconds = time.perf_counter() - start
    return {
        "data": repr(data),
        "method": label,
        "seed": seed,
        "arch": space.format(result.arch),
        "test_acc": table_accuracies(space, result.arch, data_dir),
        "surrogate_val_acc": surrogate_accuracy(space, result.arch, data_dir),
        "parameter_free": parameter_free_share(space, result.arch),
        "parameter_free_by_epoch": [
            round(parameter_free_share(space, row.arch), 3) for row in result.history
        ],
        "epochs_run": len(result.history),
        "stop_reason": result.stop_reason,
        "supernet_val_acc": result.history[-1].metrics["val_acc"],
        "seconds": seconds,
    }


def summarise(runs: list[dict]) -> dict[str, Any]:
    def mean_std(values: list[float]) -> dict[str, float]:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": round(statistics.fmean(values), 2), "std": round(std, 2)}

    scores = (
        {"surrogate_val_acc": mean_std([r["surrogate_val_acc"] for r in runs])}
        if runs[0]["test_acc"] is None  # the DARTS space: the surrogate scores genotypes
        else {
            "test_acc": {ds: mean_std([r["test_acc"][ds] for r in runs]) for ds in NB201_DATASETS}
        }
    )
    return {
        **scores,
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
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--cells", type=int, default=0, help="cells per stage (0: the profile's)")
    parser.add_argument("--space", default="nb201", choices=("nb201", "darts"))
    parser.add_argument("--images", type=int, default=0, help="images per half (0: the profile's)")
    parser.add_argument("--suffix", default="")
    parser.add_argument("--keep", action="store_true", help="keep the runs already in the file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=0.0, help="wall seconds per search")
    args = parser.parse_args()
    setting = (args.data_dir, args.data, args.space, args.profile, args.images, args.threads)
    suffix = f"_{args.suffix}" if args.suffix else ""
    out = RESULTS / f"oneshot_{args.space}_{args.profile}{suffix}.json"
    recipe = space_profile(args.space, args.profile).recipe
    RESULTS.mkdir(exist_ok=True)
    settings = {
        "space": args.space,
        "profile": args.profile,
        "images": args.images,
        "epochs": args.epochs,
        "cells_per_stage": args.cells or recipe.cells_per_stage,
        "channels": recipe.channels,
        **({"device": args.device} if args.device != "cpu" else {}),
        **({"seconds": args.seconds} if args.seconds else {}),
    }  # the last two only where set, so that --keep still adds to files made without them
    report = kept(out, settings) if args.keep else {**settings, "runs": []}
    runs: list[dict] = report["runs"]
    done = {(r["method"], r["seed"]) for r in runs}
    wanted = [(m, seed) for seed in parse_seeds(args.seeds) for m in args.methods.split(";")]
    order = [pair for pair in wanted if pair not in done]  # seed-major
    with ProcessPoolExecutor(args.jobs, initializer=load, initargs=setting) as pool:
        futures = [
            pool.submit(
                run,
                m,
                seed,
                args.space,
                args.profile,
                args.epochs,
                args.data_dir,
                args.cells,
                args.device,
                args.seconds or None,
            )
            for m, seed in order
        ]
        for future in as_completed(futures):
            result = future.result()
            report["data"] = result.pop("data")
            print(json.dumps(result), flush=True)
            runs.append(result)
            methods = list(dict.fromkeys(r["method"] for r in runs))
            runs.sort(key=lambda r: (r["seed"], methods.index(r["method"])))
            report |= {
                "threads": args.threads,
                "jobs": args.jobs,
                "methods": {m: summarise([r for r in runs if r["method"] == m]) for m in methods},
            }
            out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


def kept(out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The report in ``out`` to add runs to (``--keep``): a new one if there is none; an error
    if it was made under other settings (its runs would not compare)."""
    if not out.exists():
        return {**settings, "runs": []}
    report = json.loads(out.read_text())
    differ = [key for key, value in settings.items() if report.get(key) != value]
    if differ:
        raise SystemExit(f"{out}: made with other {', '.join(differ)}; --keep cannot add to it")
    return report


if __name__ == "__main__":
    main()
