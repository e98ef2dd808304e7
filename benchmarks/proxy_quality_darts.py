"""Zero-cost proxy quality in the DARTS space with real CIFAR-10 images, against NAS-Bench-301.

Computes the proxies of the first N genotypes of the DARTS space's seeded sample (seed 0) into a
resumable proxy table (rerun to continue), on two batches of the shared CIFAR-10 images with a
reduced network (C=8, one cell per stage: 5 cells), then reports per proxy Spearman ρ, Kendall τ
and the top-10 % hit rate against NAS-Bench-301's surrogate's predicted validation accuracy after
98 epochs (the full schedule) and after 12 (a short training), and the median seconds per
genotype. No measured accuracies exist for these genotypes: the reference is a surrogate's
prediction (YAHPO Gym's nb301 model). The free params and flops of the evaluation network (20
cells at C=36) are ranked too. NASLib's published zero-cost scores of 725 DARTS genotypes
(``darts/naslib_zc_nasbench301.json`` of the data folder) are ranked the same way, against its
own ``val_accuracy`` and against our surrogate's predictions, as a reference. Writes
``benchmarks/results/proxy_quality_darts_C<C>_N<N>_b<B>_n<N>.json``.

    PMFNAS_DATA=../shared/data python benchmarks/proxy_quality_darts.py --archs 300 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from pmfnas.runs.proxies import (
    ProxyQuality,
    compute_proxy_table,
    nb301_reference,
    proxy_quality,
    score_proxies,
    select_archs,
    table_archs,
)
from pmfnas.spaces.darts import DartsSpace
from pmfnas.spaces.darts.costs import params_and_flops
from pmfnas.tables.nb301 import MAX_EPOCH, NB301Surrogate, naslib_genotype

RESULTS = Path(__file__).parent / "results"
PROXIES = "nwot,synflow,snip,jacov,mfnas_sum,mfnas_mean,params,flops"
SHORT_EPOCHS = 12
EPOCHS = (MAX_EPOCH, SHORT_EPOCHS)
"""The surrogate's epochs the proxies are ranked against: the full schedule and a short one."""
NASLIB_FILE = Path("darts") / "naslib_zc_nasbench301.json"
NASLIB_NETWORK = {"channels": 32, "cells_per_stage": 2}
"""The network NASLib's DARTS scores were made on, as its ``params`` tell: 8 cells at C=32."""


def ranked(q: ProxyQuality) -> dict[str, float]:
    return {
        "spearman": round(q.spearman, 3),
        "kendall": round(q.kendall, 3),
        "top10": round(q.top_hit_rate, 3),
    }


def naslib_reference(path: Path, surrogate: NB301Surrogate) -> dict:
    """Spearman ρ of each of NASLib's proxies against its ``val_accuracy`` and against our
    surrogate's 98-epoch prediction, with the checks that its keys decode as we read them."""
    records = json.loads(path.read_text())["cifar10"]
    archs = [naslib_genotype(key) for key in records]
    rows = list(records.values())
    accuracy = np.array([r["val_accuracy"] for r in rows])
    predicted = surrogate.predict(archs, MAX_EPOCH)["val_acc"]
    names = sorted(k for k, v in rows[0].items() if isinstance(v, dict) and "score" in v)
    ours = np.array([params_and_flops(a, **NASLIB_NETWORK) for a in archs], dtype=float)

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        return round(float(spearmanr(a, b).statistic), 3)

    scores = {name: np.array([r[name]["score"] for r in rows]) for name in names}
    return {
        "source": f"automl/NASLib @ 7989ad22, naslib/data/zc_nasbench301.json ({NASLIB_FILE})",
        "genotypes": len(archs),
        "distinct_genotypes": len(set(archs)),
        "decode_check": {
            "what": "Spearman of NASLib's params and flops against ours of 8 cells at C=32",
            "params": rho(scores["params"], ours[:, 0]),
            "flops": rho(scores["flops"], ours[:, 1]),
        },
        "val_accuracy_vs_surrogate_98": rho(accuracy, predicted),
        "spearman_vs_naslib_val_accuracy": {n: rho(s, accuracy) for n, s in scores.items()},
        "spearman_vs_surrogate_98": {n: rho(s, predicted) for n, s in scores.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proxies", default=PROXIES)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cells", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    names = tuple(args.proxies.split(","))
    indices = select_archs(str(args.archs), args.seed, "darts")
    start = time.perf_counter()
    table = compute_proxy_table(
        "cifar10", names, indices, space="darts", table=args.table,
        batch_size=args.batch_size, channels=args.channels, cells_per_stage=args.cells,
        seed=args.seed, workers=args.workers,
        progress=lambda done, total: print(f"\r{done}/{total} genotypes", end="", flush=True),
    )  # fmt: skip
    print()
    wall = time.perf_counter() - start
    surrogate = NB301Surrogate()
    archs = table_archs(DartsSpace(), indices, args.seed)
    references = {e: nb301_reference(surrogate, "cifar10", archs, e) for e in EPOCHS}
    by_epochs = {e: score_proxies(table, names, indices, r) for e, r in references.items()}
    naslib = naslib_reference(Path(os.environ["PMFNAS_DATA"]) / NASLIB_FILE, surrogate)
    published = naslib["spearman_vs_naslib_val_accuracy"]
    final, early = (references[e].accuracy for e in EPOCHS)
    short = proxy_quality("val_acc_12", early, final, np.zeros(len(archs)))
    report = {
        "what": "zero-cost proxies of DARTS genotypes on real CIFAR-10 images, ranked against "
        "NAS-Bench-301's surrogate's predicted validation accuracy (YAHPO Gym nb301; a "
        "prediction: no measured accuracies exist)",
        "command": "PMFNAS_DATA=../shared/data python benchmarks/proxy_quality_darts.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "data": "cifar10 (real CIFAR-10 images, the shared cifar-10-batches-py subset)",
        "network": f"{3 * args.cells + 2} cells at C={args.channels}, batch {args.batch_size}",
        "sample": f"the first {len(indices)} genotypes of the darts space's seed-{args.seed} sample",
        "settings": table.settings,
        "wall_seconds_this_run": round(wall, 1),
        "surrogate_val_acc_98": {
            "mean": round(float(final.mean()), 3),
            "min": round(float(final.min()), 3),
            "max": round(float(final.max()), 3),
        },
        "surrogate_12_vs_98": ranked(short),
        "proxies": [
            {
                "proxy": q98.proxy,
                "n": q98.n,
                "median_seconds": round(q98.median_seconds, 4),
                "val_acc_98": ranked(q98),
                "val_acc_12": ranked(q12),
                "naslib_spearman": published.get(q98.proxy),
            }
            for q98, q12 in zip(by_epochs[MAX_EPOCH], by_epochs[SHORT_EPOCHS], strict=True)
        ],
        "naslib_reference": naslib,
    }
    out = args.out or RESULTS / (
        f"proxy_quality_darts_C{args.channels}_N{args.cells}_b{args.batch_size}_n{args.archs}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for row in report["proxies"]:
        r98, r12 = row["val_acc_98"], row["val_acc_12"]
        print(f"{row['proxy']:>24}: ρ98 {r98['spearman']:+.3f}  τ98 {r98['kendall']:+.3f}  "
              f"top10 {r98['top10']:.2f}  ρ12 {r12['spearman']:+.3f}  "
              f"{row['median_seconds']:.3f} s  (NASLib ρ {row['naslib_spearman']})")  # fmt: skip
    print(f"→ {out}")


if __name__ == "__main__":
    main()
