"""How well cheap fidelities rank architectures on digits, against their 12-epoch training (issue 5).

A multi-fidelity search is only as good as its cheap rungs. For a seeded sample of cells this
trains each one at the high fidelity (validation and test accuracy) and at every candidate medium
fidelity, scores it with the proxies of the ladder, and reports each signal's Spearman rank
correlation with the high fidelity's validation accuracy (what a search sees) and test accuracy
(what the user gets), with the mean cost of each fidelity. Writes
``benchmarks/results/digits_fidelities.json``.

    python benchmarks/digits_fidelities.py [--cells 70] [--jobs 2 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from pmfnas.predictors import rank_scores
from pmfnas.runs.profiles import real_data_evaluator, training_evaluator
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.strategies.pmf.exploration import low_scores
from pmfnas.types import Fidelity

MEDIUMS = "epochs=3,fraction=0.5;epochs=3,horizon=12;epochs=3;epochs=4;epochs=6,fraction=0.5"


def measure(
    data: str, cell: int, high: str, mediums: list[str], proxies: str, threads: int
) -> dict[str, Any]:
    """One cell at every fidelity (the high one first, so that no prefix is continued)."""
    torch.set_num_threads(threads)
    evaluator = real_data_evaluator(training_evaluator(data, seed=0))
    arch = NB201Space().arch(cell)
    row: dict[str, Any] = {"cell": cell}
    top = evaluator.evaluate(arch, Fidelity.parse(high))
    row["high"] = {
        "val_acc": top.val_acc,
        "val_loss": top.metrics["val_loss"],
        "test_acc": top.private["test_acc"],
        "cost": top.cost,
    }
    for medium in mediums:
        result = evaluator.evaluate(arch, Fidelity.parse(medium))
        row[medium] = {
            "val_acc": result.val_acc,
            "val_loss": result.metrics["val_loss"],
            "cost": result.cost,
        }
    scores = evaluator.evaluate(arch, Fidelity.parse(proxies))
    # a failing proxy (non-finite) is stored as None and ranks last
    row["proxies"] = {k: v if math.isfinite(v) else None for k, v in scores.metrics.items()}
    row["proxies_cost"] = scores.cost
    return row


def rank_quality(signal: list[float], rows: list[dict]) -> dict[str, float]:
    """Spearman ρ of ``signal`` against the high fidelity's validation and test accuracy."""
    return {
        "rho_val": float(spearmanr(signal, [r["high"]["val_acc"] for r in rows])[0]),
        "rho_test": float(spearmanr(signal, [r["high"]["test_acc"] for r in rows])[0]),
    }


def proxy_ranks(rows: list[dict], names: list[str]) -> dict[str, list[float]]:
    """Each proxy's percentile ranks, and under ``"+".join(names)`` their mean, which is how PMF's
    stage 1 combines them (a failure, stored as None, ranks lowest)."""
    everyone = np.ones(len(rows), dtype=bool)
    raw = {
        name: np.array([np.nan if r["proxies"][name] is None else r["proxies"][name] for r in rows])
        for name in names
    }
    ranks = {name: rank_scores(values, everyone).tolist() for name, values in raw.items()}
    return {**ranks, "+".join(names): low_scores(raw, everyone).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=70)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--high", default="epochs=12")
    parser.add_argument("--mediums", default=MEDIUMS, help="fidelities separated by ';'")
    parser.add_argument("--proxies", default="proxy:meco,synflow")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "digits_fidelities.json"
    )
    args = parser.parse_args()
    mediums = args.mediums.split(";")
    cells = np.random.default_rng(args.seed).choice(NB201Space().size, args.cells, replace=False)
    calls = [(args.data, int(c), args.high, mediums, args.proxies, args.threads) for c in cells]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(measure, *zip(*calls, strict=True)))

    names = list(Fidelity.parse(args.proxies).proxies)
    signals: dict[str, dict[str, float]] = {
        args.high: {  # how well the search's own signal, and the loss, foretell the test
            "rho_test": rank_quality([r["high"]["val_acc"] for r in rows], rows)["rho_test"],
            "rho_test_of_minus_val_loss": rank_quality(
                [-r["high"]["val_loss"] for r in rows], rows
            )["rho_test"],
            "cost_mean": statistics.mean(r["high"]["cost"] for r in rows),
        }
    }
    for medium in mediums:
        signals[medium] = {
            **rank_quality([r[medium]["val_acc"] for r in rows], rows),
            "cost_mean": statistics.mean(r[medium]["cost"] for r in rows),
        }
    ranks = proxy_ranks(rows, names)
    for name, signal in ranks.items():
        signals[f"proxy:{name}"] = rank_quality(signal, rows)
    signals[f"proxy:{'+'.join(names)}"]["cost_mean"] = statistics.mean(
        r["proxies_cost"] for r in rows
    )
    report = {
        "data": args.data,
        "cells": args.cells,
        "seed": args.seed,
        "torch_threads": args.threads,
        "signals": signals,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, row in signals.items():
        print(name, {k: round(v, 3) for k, v in row.items()})


if __name__ == "__main__":
    main()
