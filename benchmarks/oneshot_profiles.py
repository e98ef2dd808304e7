"""Does the cpu profile's supernet rank cells as a larger one does? Its agreement with bigger
settings, one knob at a time towards the reference profile.

For each setting (the ``cpu`` profile with some of its knobs changed: ``channels=16``,
``resolution=32``, ``cells_per_stage=5``...) and seed, a supernet is trained by uniform single
paths (RSPS' training, the one that favours no cell) for the same epochs on the same images, then
one fixed seeded sample of cells is scored on it (validation accuracy of each cell's path on the
profile's ``eval_images``). Reported: Kendall's tau of each setting's scores with the cells'
NB201 CIFAR-10 test accuracy (the truth; never shown to the search), tau between every two
settings on the same seed, and how many of the last setting's top 10 each setting also ranks in
its top 10. Writes ``benchmarks/results/oneshot_profiles.json``; run it on a quiet machine.

    python benchmarks/oneshot_profiles.py --data-dir ../shared/data
        [--settings "cpu;channels=16;resolution=32;channels=16,cells_per_stage=5"]
        [--seeds 0-1] [--cells 100] [--epochs 10] [--jobs 2] [--data cifar-10-jpeg/train]
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
from pmfnas.oneshot.profiles import PROFILES
from pmfnas.oneshot.rsps import Rsps
from pmfnas.oneshot.trainer import SupernetTrainer
from pmfnas.runs.oneshot import oneshot_data, table_accuracies, with_setting
from pmfnas.spaces import create_space
from pmfnas.types import Arch

RESULTS = Path(__file__).parent / "results"
SETTINGS = "cpu;channels=16;resolution=32;channels=16,cells_per_stage=5"
TOP = 10


class SampleScores(Rsps):
    """RSPS' training; at the end, every cell of a fixed sample scored on the supernet."""

    def __init__(self, cells: list[Arch]) -> None:
        super().__init__(candidates=1)
        self.cells, self.scores = cells, []

    def derive(self, trainer: SupernetTrainer) -> Arch:
        return self.cells[0]  # the per-epoch records are not what this benchmark reads

    def finish(self, trainer: SupernetTrainer) -> Arch:
        self.scores = [trainer.measure(trainer.space.path(c))["val_acc"] for c in self.cells]
        return self.cells[int(np.argmax(self.scores))]


def knobs(setting: str) -> dict[str, Any]:
    """``cpu`` or ``key=number,...``: the profile's knobs (all numbers) to change."""
    if setting == "cpu":
        return {}
    pairs = (item.split("=") for item in setting.split(","))
    return {key: float(value) if "." in value else int(value) for key, value in pairs}


def score(
    setting: str, seed: int, cells: list[Arch], epochs: int, data_dir: Path, data: str
) -> dict:
    """Train a supernet under ``setting`` and score ``cells`` on it."""
    torch.set_num_threads(1)
    profile = with_setting(PROFILES.get("cpu"), knobs(setting))
    name = str(data_dir / data) if "/" in data else data
    images = oneshot_data(name, profile, seed=0, data_dir=data_dir)
    method = SampleScores(cells)
    start = time.perf_counter()
    search_oneshot(method, create_space("nb201"), images, profile.recipe, epochs=epochs, seed=seed)
    return {
        "setting": setting,
        "seed": seed,
        "data": repr(images),
        "scores": method.scores,
        "seconds": time.perf_counter() - start,
    }


def tau(a: list[float], b: list[float]) -> float:
    return round(float(kendalltau(a, b).statistic), 3)


def top(scores: list[float]) -> set[int]:
    return set(np.argsort(scores)[::-1][:TOP].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--data", default="cifar-10-jpeg/train")
    parser.add_argument("--settings", default=SETTINGS, help="separated by ';'")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    space = create_space("nb201")
    rng = np.random.default_rng(0)
    cells = [space.sample(rng) for _ in range(args.cells)]
    truth = [table_accuracies(space, c, args.data_dir)["cifar10"] for c in cells]
    settings, seeds = args.settings.split(";"), parse_seeds(args.seeds)
    jobs = [(s, seed) for seed in seeds for s in settings]
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(score, s, seed, cells, args.epochs, args.data_dir, args.data)
            for s, seed in jobs
        ]
        runs = [f.result() for f in futures]
    scores = {(r["setting"], r["seed"]): r["scores"] for r in runs}
    largest = settings[-1]
    for r in runs:
        r["tau_with_truth"] = tau(r["scores"], truth)
        r[f"top{TOP}_shared_with_{largest}"] = len(
            top(r["scores"]) & top(scores[(largest, r["seed"])])
        )
        print(json.dumps({k: v for k, v in r.items() if k != "scores"}), flush=True)
    summary = {
        s: {
            "tau_with_truth": round(
                statistics.fmean(r["tau_with_truth"] for r in runs if r["setting"] == s), 3
            ),
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
        "truth": "NB201 200-epoch CIFAR-10 test accuracy",
        "truth_top": round(max(truth), 2),
        "settings": summary,
        "tau_between_settings_per_seed": between,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "oneshot_profiles.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
