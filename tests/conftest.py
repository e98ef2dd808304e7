"""Shared fixtures: where the benchmark data lives, the official NB201 cost records in it, and
the fidelity ladder strategies are built on in tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest

from pmfnas.evaluators.base import Ladder
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.safe_pickle import load_pickle
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.costs import DATASET_SHAPES
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.types import Arch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Train and score with one thread, as searches do: the test networks are tiny, and on a
    shared 2-core machine more threads only make them slower (and results differ by count)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ladder() -> Ladder:
    """The fidelities a strategy built without an evaluator takes (``create_strategy(...,
    ladder=ladder)``): NB201's, which the toy evaluator offers too."""
    return NB201_LADDER


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data folder (``$PMFNAS_DATA``, else ``../shared/data``); skips the test if absent."""
    path = Path(os.environ.get("PMFNAS_DATA", REPO.parent / "shared" / "data")).resolve()
    if not path.is_dir():
        pytest.skip(f"benchmark data folder {path} not found (set PMFNAS_DATA)")
    return path


class OfficialCost(NamedTuple):
    """Size of one NB201 network as the official NATS-Bench topology record gives it."""

    index: int
    cell: Arch
    dataset: str
    num_classes: int
    input_size: int
    params: float  # millions
    flop: float  # millions


@pytest.fixture(scope="session")
def nb201_official_costs(data_dir: Path) -> list[OfficialCost]:
    """Params and FLOPs of archs 0, 11 and 284 on the three datasets, read from the records."""
    folder = data_dir / "nb201" / "nats-tss-format"
    space = NB201Space()
    costs = []
    for index in (0, 11, 284):
        path = folder / f"{index:06d}.pickle.pbz2"
        if not path.is_file():
            pytest.skip(f"official NB201 record {path} not found")
        record = load_pickle(path)["200"]
        assert record["arch_index"] == index
        cell = space.parse(record["arch_str"])
        for dataset, (num_classes, input_size) in DATASET_SHAPES.items():
            result = next(r for (d, _), r in record["all_results"].items() if d == dataset)
            config = result["arch_config"]
            assert (config["channel"], config["num_cells"]) == (16, 5)
            assert config["class_num"] == num_classes
            costs.append(
                OfficialCost(
                    index,
                    cell,
                    dataset,
                    num_classes,
                    input_size,
                    float(result["params"]),
                    float(result["flop"]),
                )
            )
    return costs


@pytest.fixture(scope="session")
def nb201_dir(data_dir: Path) -> Path:
    folder = data_dir / "nb201"
    if not (folder / "nb201_test200_mean.csv").is_file():
        pytest.skip(f"NAS-Bench-201 bundle not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pmfnas-cache")


@pytest.fixture(scope="session")
def bench(nb201_dir: Path, cache_dir: Path) -> NB201Benchmark:
    return NB201Benchmark.load(nb201_dir, cache_dir=cache_dir)


OFFICIAL_12_EPOCH_SPLITS = {  # our dataset: (record dataset, key) of the validation / test accuracy
    "cifar10": (("cifar10-valid", "x-valid@11"), ("cifar10", "ori-test@11")),
    "cifar100": (("cifar100", "x-valid@11"), ("cifar100", "x-test@11")),
    "ImageNet16-120": (("ImageNet16-120", "x-valid@11"), ("ImageNet16-120", "x-test@11")),
}


@pytest.fixture(scope="session")
def official_12_epoch(nb201_dir: Path) -> dict[tuple[int, str], tuple[float, float]]:
    """``(index, dataset)`` → the 12-epoch schedule's (validation, test) accuracy, mean over the
    seeds, read straight from the official records of archs 0, 11 and 284."""
    out = {}
    for index in (0, 11, 284):
        path = nb201_dir / "nats-tss-format" / f"{index:06d}.pickle.pbz2"
        if not path.is_file():
            pytest.skip(f"official NB201 record {path} not found")
        runs = load_pickle(path)["12"]["all_results"]
        for dataset, splits in OFFICIAL_12_EPOCH_SPLITS.items():
            val, test = (_seed_mean(runs, source, key) for source, key in splits)
            out[index, dataset] = (val, test)
    return out


def _seed_mean(runs: dict, source: str, key: str) -> float:
    """Mean over seeds of one evaluation key of ``source``'s runs in an official record."""
    accs = [r["eval_acc1es"][key] for (dataset, _), r in runs.items() if dataset == source]
    return sum(accs) / len(accs)
