"""Does the cpu profile's supernet rank cells as a larger one does? Its agreement with bigger
settings, one knob at a time towards the reference profile.

For each setting (the ``cpu`` profile with some of its knobs changed: ``channels=16``,
``resolution=32``, ``cells_per_stage=5``...) and seed, a supernet is trained by uniform single
paths (RSPS' training, the one that favours no cell) for the same epochs on the same images, then
one fixed seeded sample of cells is scored on it: validation accuracy of each cell's path on the
profile's ``eval_images`` (what the searches rank by), and, as alternative signals, the negative
validation loss on the same images and accuracy and negative loss on all validation images
(``*_loss``, ``*_all``: does a near-chance supernet rank better by its loss, or on more images?).
Reported: Kendall's tau of each setting's scores with the truth,
never shown to the search (the cells' NB201 CIFAR-10 test accuracy; in the DARTS space
NAS-Bench-301's predicted 98-epoch validation accuracy), and with the cells' parameter-free share
(the bias of a short supernet training towards cells without weights), tau between every two
settings on the same seed, and how many of the last setting's top 10 each setting also ranks in
its top 10. Writes ``benchmarks/results/oneshot_profiles[_SPACE][_SUFFIX].json``; run it on a quiet
machine.

    python benchmarks/oneshot_profiles.py --data-dir ../shared/data [--space darts]
        [--settings "cpu;channels=16;resolution=32;channels=16,cells_per_stage=5"]
        [--seeds 0-1] [--cells 100] [--epochs 10] [--jobs 2] [--data cifar-10-jpeg/train]
        [--suffix NAME]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from pmfnas.cli.options import parse_seeds
from pmfnas.oneshot import search_oneshot
from pmfnas.oneshot.profiles import space_profile
from pmfnas.oneshot.rsps import Rsps
from pmfnas.oneshot.trainer import SupernetTrainer
from pmfnas.runs.oneshot import oneshot_data, surrogate_accuracy, table_accuracies, with_setting
from pmfnas.spaces import create_space, seeded_sample
from pmfnas.spaces.oneshot import parameter_free_share
from pmfnas.types import Arch

RESULTS = Path(__file__).parent / "results"
SETTINGS = "cpu;channels=16;resolution=32;channels=16,cells_per_stage=5"
TOP = 10


SIGNALS = ("scores", "scores_loss", "scores_all", "scores_all_loss")
"""Each cell's score, higher is better: accuracy and negative loss, on ``eval_images`` and on all
validation images."""


class SampleScores(Rsps):
    """RSPS' training; at the end, every cell of a fixed sample scored on the supernet."""

    def __init__(self, cells: list[Arch]) -> None:
        super().__init__(candidates=1)
        self.cells = cells
        self.signals: dict[str, list[float]] = {}  # by SIGNALS; "scores" ranks the searches

    def derive(self, trainer: SupernetTrainer) -> Arch:
        return self.cells[0]  # the per-epoch records are not what this benchmark reads

    def finish(self, trainer: SupernetTrainer) -> Arch:
        few = [trainer.measure(trainer.space.path(c)) for c in self.cells]
        valid = len(trainer.data.part("valid")[1])
        every = [trainer.measure(trainer.space.path(c), images=valid) for c in self.cells]
        self.signals = {
            "scores": [m["val_acc"] for m in few],
            "scores_loss": [-m["val_loss"] for m in few],
            "scores_all": [m["val_acc"] for m in every],
            "scores_all_loss": [-m["val_loss"] for m in every],
        }
        return self.cells[int(np.argmax(self.signals["scores"]))]


def knobs(setting: str) -> dict[str, Any]:
    """``cpu`` or ``key=number,...``: the profile's knobs (all numbers) to change."""
    if setting == "cpu":
        return {}
    pairs = (item.split("=") for item in setting.split(","))
    return {key: float(value) if "." in value else int(value) for key, value in pairs}


def score(
    space: str, setting: str, seed: int, cells: list[Arch], epochs: int, data_dir: Path, data: str
) -> dict:
    """Train a supernet of ``space`` under ``setting`` and score ``cells`` on it."""
    torch.set_num_threads(1)
    profile = with_setting(space_profile(space, "cpu"), knobs(setting))
    name = str(data_dir / data) if "/" in data else data
    images = oneshot_data(name, profile, seed=0, data_dir=data_dir)
    method = SampleScores(cells)
    start = time.perf_counter()
    search_oneshot(method, create_space(space), images, profile.recipe, epochs=epochs, seed=seed)
    return {
        "setting": setting,
        "seed": seed,
        "data": repr(images),
        **method.signals,
        "seconds": time.perf_counter() - start,
    }


def tau(a: list[float], b: list[float]) -> float:
    return round(float(kendalltau(a, b).statistic), 3)


def truth_of(space: str, cells: list[Arch], data_dir: Path) -> tuple[str, list[float]]:
    """What the scores are compared with, and its value for each cell."""
    searched = create_space(space)
    if space == "darts":
        found = [surrogate_accuracy(searched, c, data_dir) for c in cells]
        return "NAS-Bench-301 surrogate's 98-epoch CIFAR-10 validation accuracy", found
    found = [table_accuracies(searched, c, data_dir)["cifar10"] for c in cells]
    return "NB201 200-epoch CIFAR-10 test accuracy", found


def top(scores: list[float]) -> set[int]:
    return set(np.argsort(scores)[::-1][:TOP].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--space", default="nb201", choices=("nb201", "darts"))
    parser.add_argument("--data", default="cifar-10-jpeg/train")
    parser.add_argument("--settings", default=SETTINGS, help="separated by ';'")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--suffix", default="", help="written to oneshot_profiles[_SPACE]_SUFFIX.json"
    )
    args = parser.parse_args()
    space = create_space(args.space)
    cells = seeded_sample(space, args.cells, 0)
    truth_name, truth = truth_of(args.space, cells, args.data_dir)
    if None in truth:
        raise SystemExit(f"error: {args.data_dir} lacks the {truth_name}")
    free = [parameter_free_share(space, c) for c in cells]
    settings, seeds = args.settings.split(";"), parse_seeds(args.seeds)
    jobs = [(s, seed) for seed in seeds for s in settings]
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(score, args.space, s, seed, cells, args.epochs, args.data_dir, args.data)
            for s, seed in jobs
        ]
        runs = [f.result() for f in futures]
    scores = {(r["setting"], r["seed"]): r["scores"] for r in runs}
    largest = settings[-1]
    for r in runs:
        r["tau_with_truth"] = tau(r["scores"], truth)
        for signal in SIGNALS[1:]:
            r[f"tau_with_truth_{signal}"] = tau(r[signal], truth)
        r["tau_with_parameter_free"] = tau(r["scores"], free)
        r[f"top{TOP}_shared_with_{largest}"] = len(
            top(r["scores"]) & top(scores[(largest, r["seed"])])
        )
        print(json.dumps({k: v for k, v in r.items() if k not in SIGNALS}), flush=True)
    summary = {
        s: {
            **{
                key: round(statistics.fmean(r[key] for r in runs if r["setting"] == s), 3)
                for key in (
                    "tau_with_truth",
                    *(f"tau_with_truth_{signal}" for signal in SIGNALS[1:]),
                    "tau_with_parameter_free",
                )
            },
            "seconds": round(statistics.fmean(r["seconds"] for r in runs if r["setting"] == s), 1),
        }
        for s in settings
    }
    between = {
        f"{a} | {b}": [tau(scores[(a, seed)], scores[(b, seed)]) for seed in seeds]
        for a, b in itertools.combinations(settings, 2)
    }
    report = {
        "epochs": args.epochs,
        "cells": args.cells,
        "space": args.space,
        "truth": truth_name,
        "truth_top": round(max(truth), 2),
        "truth_tau_with_parameter_free": tau(truth, free),
        "settings": summary,
        "tau_between_settings_per_seed": between,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "oneshot_profiles" if args.space == "nb201" else f"oneshot_profiles_{args.space}"
    out = RESULTS / f"{name}{f'_{args.suffix}' if args.suffix else ''}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
