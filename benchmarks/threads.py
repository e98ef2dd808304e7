"""Seconds per training step and per proxy scoring by torch thread count, for a few network sizes
(issue 15, item 3): the measurement behind the default thread rule of ``pmfnas.runs.profiles``.

Each setting trains NB201's typical cell on the embedded digits (resized to the setting's side;
1 input channel) with the NB201 recipe: one untimed warm-up step, then timed steps; every thread
count is measured in turn, ``--repeats`` times, and the median is kept, so that a load that comes
and goes hits every count alike. The proxies (``meco,synflow``, the real-training search's low
rung) are timed the same way on the proxy network (C=8, N=1, two batches of 64). Writes
``benchmarks/results/threads.json``. It measures wall time: run it on a machine as quiet as you
can get, and read the load it records.

    python benchmarks/threads.py [--threads 1,2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from pmfnas.data import load_dataset
from pmfnas.evaluators.proxy import ProxyEvaluator
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS
from pmfnas.runs.profiles import batch_mflops
from pmfnas.spaces import create_space
from pmfnas.training import TrainingRecipe
from pmfnas.training.loop import Device, train_batches, train_step

SETTINGS = (
    {"channels": 8, "cells": 1, "side": 8, "batch": 64, "steps": 17},
    {"channels": 8, "cells": 1, "side": 16, "batch": 64, "steps": 10},
    {"channels": 8, "cells": 1, "side": 32, "batch": 64, "steps": 5},
    {"channels": 16, "cells": 2, "side": 32, "batch": 128, "steps": 2},
    {"channels": 16, "cells": 5, "side": 32, "batch": 256, "steps": 1},
)
"""From the digits search's network (C=8, N=1, 8 px, batch 64) to NB201's own (C=16, N=5,
32 px, batch 256); ``steps`` timed per measurement (17: one epoch of the digits)."""

PROXY_SIDES = (8, 32)
PROXIES = ("meco", "synflow")


def timed(work: Callable[[], None], threads: list[int], repeats: int) -> dict[int, float]:
    """Median seconds of ``work`` under each thread count, the counts taken in turn."""
    seconds: dict[int, list[float]] = {n: [] for n in threads}
    for _ in range(repeats):
        for n in threads:
            torch.set_num_threads(n)
            start = time.perf_counter()
            work()
            seconds[n].append(time.perf_counter() - start)
    return {n: statistics.median(s) for n, s in seconds.items()}


def training_steps(setting: dict[str, int], threads: list[int], repeats: int) -> dict:
    """Seconds per training step of the typical cell at ``setting``, per thread count."""
    space = create_space()
    data = load_dataset("digits", split="holdout").resized(setting["side"])
    recipe = TrainingRecipe(
        batch_size=setting["batch"], channels=setting["channels"], cells_per_stage=setting["cells"]
    )
    torch.manual_seed(0)
    model = space.network(
        space.typical(),
        channels=recipe.channels,
        cells_per_stage=recipe.cells_per_stage,
        num_classes=data.num_classes,
        input_channels=data.channels,
    )
    run = Device.of("cpu")
    optimizer, _ = recipe.optimizer(model, 10_000)
    batches = train_batches(data, recipe, torch.Generator().manual_seed(0), run)
    x, y = next(batches)  # a full batch, trained again and again: the speed, not the result

    def steps() -> None:
        for _ in range(setting["steps"]):
            float(train_step(model, x, y, optimizer, run)[0])

    model.train()
    train_step(model, x, y, optimizer, run)  # warm-up: the first step allocates
    per_step = {n: s / setting["steps"] for n, s in timed(steps, threads, repeats).items()}
    epoch_steps = math.ceil(len(data.train_y) / recipe.batch_size)
    return {
        **setting,
        "batch_mflops": batch_mflops(
            space, data, recipe.channels, recipe.cells_per_stage, recipe.batch_size
        ),
        "seconds_per_step": per_step,
        "seconds_per_digits_epoch": {n: s * epoch_steps for n, s in per_step.items()},
    }


def proxy_scoring(side: int, threads: list[int], repeats: int) -> dict:
    """Seconds per scoring of the typical cell with :data:`PROXIES`, per thread count."""
    data = load_dataset("digits", split="holdout").resized(side)
    evaluator = ProxyEvaluator(data, channels=TABLE_CHANNELS, cells_per_stage=TABLE_CELLS)
    cell = evaluator.space.typical()
    evaluator.scores(cell, PROXIES)  # warm-up
    seconds = timed(lambda: evaluator.scores(cell, PROXIES), threads, repeats)
    return {"side": side, "proxies": ",".join(PROXIES), "seconds": seconds}


def parity_mflops(rows: list[dict], threads: list[int]) -> float | None:
    """MFLOPs per batch at which the most threads would match one, by a straight line through
    log(slowdown) against log(work) of the measured settings (``None``: not slower anywhere,
    or not slowing down less with size)."""
    many = max(threads)
    if many == 1 or 1 not in threads:
        return None
    x = [math.log(r["batch_mflops"]) for r in rows]
    y = [math.log(r["seconds_per_step"][many] / r["seconds_per_step"][1]) for r in rows]
    mean_x, mean_y = statistics.fmean(x), statistics.fmean(y)
    slope = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / sum(
        (a - mean_x) ** 2 for a in x
    )
    if slope >= 0 or min(y) <= 0:
        return None
    return math.exp(mean_x - mean_y / slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "threads.json"
    )
    args = parser.parse_args()
    threads = [int(n) for n in args.threads.split(",")]
    started = time.perf_counter()
    report: dict = {
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "threads": threads,
        "repeats": args.repeats,
        "training": [],
        "proxies": [],
    }
    for setting in SETTINGS:
        row = training_steps(setting, threads, args.repeats)
        report["training"].append(row)
        shown = ", ".join(f"{n} thr {s:.4f} s" for n, s in row["seconds_per_step"].items())
        print(f"C={row['channels']} N={row['cells']} {row['side']} px batch {row['batch']} "
              f"({row['batch_mflops']:.0f} MFLOPs/batch): {shown} per step")  # fmt: skip
    report["parity_mflops"] = parity_mflops(report["training"], threads)
    print(f"{max(threads)} threads would match one at about {report['parity_mflops']} MFLOPs/batch")
    for side in PROXY_SIDES:
        row = proxy_scoring(side, threads, args.repeats)
        report["proxies"].append(row)
        shown = ", ".join(f"{n} thr {s:.3f} s" for n, s in row["seconds"].items())
        print(f"proxies {row['proxies']} at {side} px: {shown}")
    report["load_after"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['wall_s']:.0f} s → {args.out}")


if __name__ == "__main__":
    main()
