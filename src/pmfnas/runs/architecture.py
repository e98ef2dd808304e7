"""Single-architecture calls: train one architecture (and save it), or describe one from the benchmark."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmfnas.errors import DataError, NotAvailableError
from pmfnas.runs.profiles import check_recipe
from pmfnas.spaces import create_space, index_or_none, require_enumerable
from pmfnas.spaces.nb201.costs import DATASET_SHAPES, all_params_and_flops
from pmfnas.spaces.saved import NetworkRecord, Preprocessing, save_network
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.types import Fidelity

if TYPE_CHECKING:
    import torch

    from pmfnas.evaluators.training import TrainingEvaluator


def train_architecture(
    text: str, evaluator: TrainingEvaluator, fidelity: Fidelity
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train one architecture (its text, or any shorthand of the evaluator's space such as an
    NB201 index or a published DARTS genotype's name); the trained model and a JSON-ready
    summary. A network with an auxiliary head (DARTS' recipe) also reports its size without
    the head, what inference runs (and what DARTS publishes)."""
    from pmfnas.spaces.counting import count_parameters

    space = evaluator.space
    arch = space.resolve(text)
    check_recipe(space, evaluator.dataset(fidelity), evaluator.recipe)
    model, result = evaluator.train(arch, fidelity)
    params = count_parameters(model)
    head = getattr(model, "auxiliary", None)
    sizes = {"params_m": params / 1e6}
    if head is not None:
        sizes["inference_params_m"] = (params - count_parameters(head)) / 1e6
    return model, {
        "space": space.name,
        "arch": space.format(arch),
        "index": index_or_none(space, arch),
        "data": evaluator.data.name,
        "split": evaluator.data.split,
        "fidelity": str(fidelity),
        "recipe": evaluator.recipe.as_dict(),
        "seed": evaluator.seed,
        "device": str(evaluator.run.device),
        **sizes,
        "val_acc": result.val_acc,
        "test_acc": result.private["test_acc"],
        "seconds": result.cost,
        "curve": list(result.curve),
    }


def save_trained(
    path: Path,
    model: torch.nn.Module,
    evaluator: TrainingEvaluator,
    arch: str,
    fidelity: Fidelity,
) -> None:
    """Save ``model``, the network of ``arch`` (its text) that ``evaluator`` trained at
    ``fidelity``, with the record that lets ``pmfnas export`` rebuild it without size flags and
    feed it raw pixels."""
    setting, data = evaluator.setting(fidelity), evaluator.data
    record = NetworkRecord(
        space=evaluator.space.name,
        arch=evaluator.space.format(evaluator.space.resolve(arch)),
        channels=setting.channels,
        cells_per_stage=setting.cells,
        num_classes=data.num_classes,
        input_channels=data.channels,
        data=data.name,
        classes=data.classes,
        preprocessing=Preprocessing.of(data, evaluator.dataset(fidelity)),
    )
    save_network(path, model.state_dict(), record)


BENCHMARK_FIELDS = (
    "val_acc_200",
    "test_acc_200",
    "test_acc_12",
    "train_time_per_epoch",
    "zen_score",
)


def describe_arch(
    text: str, dataset: str = "cifar10", source: Path | None = None
) -> dict[str, Any]:
    """Index, canonical string, size and (where the data exists) benchmark numbers of one cell.

    Missing benchmark values are ``None`` (shown as n/a), never estimates.
    """
    space = require_enumerable(create_space("nb201"), "describing a benchmark cell")
    arch = space.resolve(text)
    index = space.index(arch)
    if dataset not in DATASET_SHAPES:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(DATASET_SHAPES)})")
    params, flops = all_params_and_flops(*DATASET_SHAPES[dataset])
    info: dict[str, Any] = {
        "index": index,
        "arch": space.format(arch),
        "dataset": dataset,
        "params_m": float(params[index]),
        "flops_m": float(flops[index]),
    }
    try:
        bench = NB201Benchmark.load(source)
    except DataError as exc:
        info["benchmark"] = f"not available ({exc})"
        return info
    for field in BENCHMARK_FIELDS:
        try:
            info[field] = bench.value(field, dataset, index)
        except NotAvailableError:
            info[field] = None
    info["latency_ms"] = _latencies(index, source)
    return info


def describe_genotype(text: str, source: Path | None = None) -> dict[str, Any]:
    """Canonical text, sizes and (where the surrogate is) NAS-Bench-301's predictions of one
    DARTS genotype, at the size DARTS publishes (CIFAR-10's evaluation network: C=36, 20 cells).

    ``source`` is the surrogate's folder (default: under ``PMFNAS_DATA``). Without it, or
    without onnxruntime, the predictions are left out and ``surrogate`` says why.
    """
    from pmfnas.errors import ConfigError
    from pmfnas.evaluators.nb301 import NB301Evaluator
    from pmfnas.spaces.darts.costs import params_and_flops
    from pmfnas.spaces.oneshot import parameter_free_share
    from pmfnas.tables.nb301 import MAX_EPOCH, NB301Surrogate

    space = create_space("darts")
    arch = space.resolve(text)
    params, flops = params_and_flops(arch)
    with_head, _ = params_and_flops(arch, auxiliary=True)
    info: dict[str, Any] = {
        "arch": space.format(arch),
        "dataset": "cifar10",
        "params_m": params / 1e6,
        "params_with_auxiliary_m": with_head / 1e6,
        "flops_m": flops / 1e6,
        "parameter_free_share": parameter_free_share(space, arch),
    }
    try:
        curve = NB301Evaluator(NB301Surrogate(source)).curve(arch)
    except (DataError, ConfigError) as exc:
        info["surrogate"] = f"not available ({exc})"
        return info
    for epochs in (12, MAX_EPOCH):
        info[f"val_acc_{epochs}"] = float(curve["val_acc"][epochs - 1])
    info[f"train_seconds_{MAX_EPOCH}"] = float(curve["cost"][MAX_EPOCH - 1])
    return info


def _latencies(index: int, source: Path | None) -> dict[str, float]:
    from pmfnas.tables.hardware import LatencyTables

    try:
        tables = LatencyTables.load(source / "latency" if source else None)
    except DataError:
        return {}
    values = {d: tables.latency(d, index) for d in tables.devices}
    return {d: v for d, v in values.items() if not math.isnan(v)}
