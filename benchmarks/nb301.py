"""Strategies on NAS-Bench-301's surrogate (the DARTS space): 30 seeds at about 100 full trainings.

Each (strategy, seed) is one ``pmfnas bench --benchmark nb301`` run: the budget is the
evaluator's default, 500,000 simulated seconds, about 100 times the mean predicted 98-epoch
training time of a random genotype (measured here too); the returned architecture is scored by
its predicted 98-epoch validation accuracy (the surrogate has no test accuracy). MFNAS evolves
on the free size proxies (``params,flops``), as NB301's ladder sets for it.
The script also measures how well the cheap signals rank genotypes: Spearman's rho of the
predicted validation accuracy at 4..70 epochs, and of the size proxies, against the 98-epoch
one, over random genotypes and over the one-edge neighbours of random genotypes (what a local
search sees), and of a model that reads the first 12 epochs' learning curve (a ridge regression
of the 98-epoch accuracy on the 4-, 8- and 12-epoch accuracy and loss and the parameter count,
fitted on other random genotypes). ``--proxy-table`` serves a DARTS proxy table's measured
proxies as the low fidelity (``pmfnas proxies compute --space darts``; PMF then ranks the table's
genotypes) and reports how they rank those genotypes against the 98-epoch prediction; ``-o
STRATEGY.KEY=VALUE`` sets a strategy's parameter, as ``pmfnas bench -o`` does. Writes
``benchmarks/results/nb301[_<suffix>].json``.

    PMFNAS_DATA=../shared/data python benchmarks/nb301.py [--seeds 0-29] [--jobs 2]
        [--strategies pmf,rea,random,hyperband,mfnas] [--suffix S] [--proxy-table T]
        [-o pmf.pool=2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pmfnas.cli.options import parse_seeds, parse_strategy_options
from pmfnas.evaluators.nb301 import NB301Evaluator, SampleProxies, sample_proxies
from pmfnas.evaluators.proxy_table import ProxyTable
from pmfnas.runs.bench import run_bench
from pmfnas.spaces.darts import DartsSpace
from pmfnas.tables.nb301 import MAX_EPOCH, NB301Surrogate
from pmfnas.types import Fidelity

RESULTS = Path(__file__).parent / "results"
STRATEGIES = "pmf,rea,random,hyperband,mfnas"
EPOCHS = (4, 12, 20, 30, 50, 70)
CURVE_EPOCHS = (4, 8, 12)
"""The points of the first 12 epochs the curve model reads."""


def curve_features(surrogate: NB301Surrogate, evaluator: NB301Evaluator, archs: list) -> np.ndarray:
    """Accuracy and loss at :data:`CURVE_EPOCHS`, and the parameter count, per genotype."""
    columns = []
    for epoch in CURVE_EPOCHS:
        predicted = surrogate.predict(archs, epoch)
        columns += [predicted["val_acc"], predicted["val_loss"]]
    columns.append(np.array([evaluator.network_size(a)[0] for a in archs]))
    return np.column_stack(columns)


def signal_quality(surrogate: NB301Surrogate, samples: int = 2000, centres: int = 30) -> dict:
    """Spearman's rho of each cheap signal against the 98-epoch accuracy (module docstring)."""
    space, evaluator = DartsSpace(), NB301Evaluator(surrogate)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(samples)]
    final = surrogate.predict(archs, MAX_EPOCH)["val_acc"]
    sizes = np.array([evaluator.network_size(a) for a in archs])
    full = [evaluator.expected_cost(a, Fidelity(epochs=MAX_EPOCH)) for a in archs]
    out = {
        "random_genotypes": samples,
        "mean_full_training_s": round(float(np.mean(full)), 1),
        "final_val_acc": {
            "mean": round(float(final.mean()), 3),
            "max": round(float(final.max()), 3),
        },
        "global_rho": {
            f"epochs={e}": round(
                float(spearmanr(surrogate.predict(archs, e)["val_acc"], final)[0]), 3
            )
            for e in EPOCHS
        },
        "size_rho": {
            name: round(float(spearmanr(sizes[:, k], final)[0]), 3)
            for k, name in enumerate(("params", "flops"))
        },
    }
    half = samples // 2  # the curve model learns on one half, is ranked on the other
    model = make_pipeline(StandardScaler(), RidgeCV()).fit(
        curve_features(surrogate, evaluator, archs[:half]), final[:half]
    )
    curve = model.predict(curve_features(surrogate, evaluator, archs[half:]))
    out["global_rho"]["curve model (12 epochs)"] = round(
        float(spearmanr(curve, final[half:])[0]), 3
    )
    local: dict[int | str, list[float]] = {e: [] for e in EPOCHS}
    local["curve"] = []
    for arch in archs[:centres]:
        near = space.neighbours(arch)
        truth = surrogate.predict(near, MAX_EPOCH)["val_acc"]
        for e in EPOCHS:
            local[e].append(spearmanr(surrogate.predict(near, e)["val_acc"], truth)[0])
        local["curve"].append(
            spearmanr(model.predict(curve_features(surrogate, evaluator, near)), truth)[0]
        )
    out["neighbourhood_rho"] = {
        ("curve model (12 epochs)" if e == "curve" else f"epochs={e}"): round(
            float(np.mean(rhos)), 3
        )
        for e, rhos in local.items()
    }
    return out


def table_quality(surrogate: NB301Surrogate, proxies: SampleProxies) -> dict:
    """The table's genotypes and Spearman's rho of each measured proxy against the 98-epoch
    prediction over them."""
    predicted = surrogate.predict(list(proxies.archs), MAX_EPOCH)["val_acc"]
    final = dict(zip(proxies.archs, predicted, strict=True))
    rho = {}
    for name, scores in proxies.scores.items():
        archs = list(scores)
        values = [scores[a][0] for a in archs]
        rho[name] = round(float(spearmanr(values, [final[a] for a in archs])[0]), 3)
    return {
        "path": proxies.source,
        "genotypes": len(proxies.archs),
        "sample_seed": proxies.sample_seed,
        "rho_98": rho,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-29")
    parser.add_argument("--strategies", default=STRATEGIES)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--suffix", default="")
    parser.add_argument("--proxy-table", type=Path, help="a DARTS proxy table: the low fidelity")
    parser.add_argument("-o", "--option", action="append", default=[], help="STRATEGY.KEY=VALUE")
    args = parser.parse_args()
    surrogate = NB301Surrogate()
    strategies = args.strategies.split(",")
    params = parse_strategy_options(args.option, strategies)
    proxies = None
    if args.proxy_table:
        with ProxyTable.open(args.proxy_table) as table:
            proxies = sample_proxies(table)
    started = time.perf_counter()
    result = run_bench(
        surrogate, strategies=strategies, seeds=parse_seeds(args.seeds), params=params,
        workers=args.jobs, proxies=proxies,
    )  # fmt: skip
    bench = result.to_json()
    table = {
        row["strategy"]: {
            "val_acc_98": row["val_acc_98"],
            "anytime": {f: stats["mean"] for f, stats in row["anytime"].items()},
            "trials": row["n_trials"],
        }
        for row in bench["summary"]
    }
    out = {
        "benchmark": "nb301 (YAHPO Gym surrogate of NAS-Bench-301), DARTS space, CIFAR-10",
        "budget_s": result.budget,
        "seeds": len(result.runs) // len(strategies),
        "command": "PMFNAS_DATA=../shared/data python benchmarks/nb301.py "
        + " ".join(sys.argv[1:]),
        "table": table,
        "signals": signal_quality(surrogate),
        "proxy_table": table_quality(surrogate, proxies) if proxies else None,
        "wall_s": round(time.perf_counter() - started, 1),
        "bench": bench,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"nb301{'_' + args.suffix if args.suffix else ''}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for name, row in table.items():
        acc = row["val_acc_98"]
        print(f"{name:10s} {acc['mean']:.2f} ± {acc['std']:.2f}  anytime {row['anytime']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
