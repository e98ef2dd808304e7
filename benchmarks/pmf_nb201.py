"""PMF's predictor and overhead on NAS-Bench-201 (issue 5), written as JSON.

Predictor: trained on the medium- and high-fidelity results of 100 random architectures (the
default protocol's 12-epoch signal, the validation accuracy, and cost, the shipped proxy scores,
the encoding → 200-epoch validation accuracy), it ranks 2,000 unseen ones; compared with the
12-epoch signal alone (Spearman ρ against the true 200-epoch validation accuracy), with its
calibration (share of true values inside mean ± 2σ). Repeated over several seeds, for each member model.

Overhead: the strategy's own wall time (every ``ask`` and ``tell``) within complete searches at
the NATS budgets, against the study's wall time and the simulated budget; for PMF and, for
scale, MFNAS, REA and random search (a table lookup takes microseconds, so even random search's
bookkeeping is a large share of a tabular search's wall time).

    PMFNAS_DATA=../shared/data python benchmarks/pmf_nb201.py [--repeats 10] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from pmfnas.evaluators.tabular import NB201_LADDER, SIGNAL12, TabularEvaluator
from pmfnas.predictors import (
    KINDS,
    FeatureRows,
    evidence_columns,
    high_fidelity_predictor,
    medium_features,
)
from pmfnas.runs.spec import SearchSpec, open_study
from pmfnas.strategies.pmf.exploration import low_scores, space_encoding
from pmfnas.tables.nb201 import NATS_BUDGETS, NB201Benchmark
from pmfnas.tables.nb201_proxies import shipped_proxies
from pmfnas.types import Fidelity, Trial, TrialState

TRAIN, TEST = 100, 2000


def medium_trial(arch: tuple[int, ...], acc: float, cost: float) -> Trial:
    """A 12-epoch result as PMF would have been told it."""
    return Trial(0, arch, Fidelity(epochs=12), TrialState.COMPLETE, {"val_acc": acc}, cost, cost)


def predictor_quality(bench: NB201Benchmark, dataset: str, repeats: int) -> dict:
    space = bench.space
    encoding = space_encoding(space)
    proxies = shipped_proxies()
    names = NB201_LADDER.low.proxies  # PMF's low fidelity
    scored = np.ones(space.size, dtype=bool)
    low = low_scores({n: proxies[n][0] for n in names}, scored)
    features = np.hstack([encoding, low[:, None]])
    medium = bench.array(SIGNAL12["default"], dataset).astype(float)
    cost = 12 * bench.array("train_time_per_epoch", dataset).astype(float)
    truth = bench.array("val_acc_200", dataset).astype(float)
    rows = FeatureRows()
    for i in range(space.size):
        rows.add(i, medium_features(medium_trial(space.arch(i), medium[i], cost[i])))
    out: dict[str, dict[str, list[float]]] = {"medium_only": {"spearman": []}}
    for repeat in range(repeats):
        order = np.random.default_rng(repeat).permutation(space.size)
        train, test = order[:TRAIN].tolist(), order[TRAIN : TRAIN + TEST].tolist()
        columns = evidence_columns(rows, train + test)
        x_train = np.hstack([rows.matrix(train, columns), features[train]])
        x_test = np.hstack([rows.matrix(test, columns), features[test]])
        out["medium_only"]["spearman"].append(spearmanr(medium[test], truth[test])[0])
        for kind in KINDS:
            members = 8 if kind == "gbt" else 32
            model = high_fidelity_predictor(kind, members, seed=repeat).fit(x_train, truth[train])
            mean, std = model.predict(x_test)
            scores = out.setdefault(kind, {"spearman": [], "inside_2sigma": []})
            scores["spearman"].append(spearmanr(mean, truth[test])[0])
            scores["inside_2sigma"].append(float(np.mean(np.abs(truth[test] - mean) <= 2 * std)))
    return {
        name: {
            k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))} for k, v in s.items()
        }
        for name, s in out.items()
    }


OVERHEAD_STRATEGIES = ("pmf", "mfnas", "rea", "random")
"""PMF and, for scale, strategies with next to no logic of their own."""


def overhead(bench: NB201Benchmark, dataset: str, seeds: int) -> dict:
    space = bench.space
    space_encoding(space)  # made once per process: not a cost of any one search
    evaluator = TabularEvaluator(bench, dataset, proxies=shipped_proxies())
    shares = {}
    for name in OVERHEAD_STRATEGIES:
        own, total = [], []
        for seed in range(seeds):
            spec = SearchSpec(evaluator, name, NATS_BUDGETS[dataset], seed=seed, space=space)
            with open_study(spec) as study:
                result = study.run()
            own.append(result.strategy_seconds)
            total.append(result.wall_seconds)
        shares[name] = {
            "strategy_seconds": float(np.mean(own)),
            "study_seconds": float(np.mean(total)),
            "share_of_study_wall_time": float(np.sum(own) / np.sum(total)),
            "share_of_simulated_budget": float(np.mean(own) / NATS_BUDGETS[dataset]),
        }
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    bench = NB201Benchmark.load()
    result = {
        "protocol": (
            f"{TRAIN} random archs (12-epoch validation signal and cost, "
            f"proxies {NB201_LADDER.low}, "
            f"one-hot encoding) -> 200-epoch validation accuracy; ranked: {TEST} unseen random archs; "
            "repeats differ in the sample and the ensemble's seed"
        ),
        "datasets": {},
    }
    lines = [
        "| dataset | ρ 12-epoch alone | ρ predictor (random forest, PMF's) | inside ±2σ "
        "| ρ extra-trees | ρ GBT | PMF's own time per search (share of the study's wall time, "
        "of the simulated budget) | random search's share of the study's wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset in NATS_BUDGETS:
        quality = predictor_quality(bench, dataset, args.repeats)
        cost = overhead(bench, dataset, args.seeds)
        result["datasets"][dataset] = {"predictor": quality, "overhead": cost}

        def rho(name: str, q: dict = quality) -> str:
            return f"{q[name]['spearman']['mean']:.3f} ± {q[name]['spearman']['std']:.3f}"

        inside = quality["random_forest"]["inside_2sigma"]["mean"]
        lines.append(
            f"| {dataset} | {rho('medium_only')} | {rho('random_forest')} | {inside:.1%} | "
            f"{rho('extra_trees')} | {rho('gbt')} | {cost['pmf']['strategy_seconds']:.2f} s "
            f"({cost['pmf']['share_of_study_wall_time']:.0%}, "
            f"{cost['pmf']['share_of_simulated_budget']:.4%}) | "
            f"{cost['random']['share_of_study_wall_time']:.0%} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "pmf_nb201.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))
    print(f"→ {path}")


if __name__ == "__main__":
    main()
