"""A search space of one's own, searched by pmfnas without editing it (docs/own_space.md).

A network here is a chain of ``LAYERS`` layers, each one of ``OPS``. The space is registered
under the name ``"chain"``, searched by regularized evolution (``rea``: it only samples and
mutates, so it needs no enumerable space) under a FLOPs budget, once trained by pmfnas's
:class:`~pmfnas.evaluators.training.TrainingEvaluator` and once by a training function of
one's own wrapped in an evaluator.

Run it with ``python docs/examples/own_space.py``: it prints what both searches return.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pmfnas.data import ImageDataset, load_dataset
from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.evaluators.base import Ladder
from pmfnas.evaluators.training import TrainingEvaluator
from pmfnas.report.study_report import write_study_report
from pmfnas.runs.spec import SearchSpec, open_study
from pmfnas.spaces import SPACES
from pmfnas.spaces.choices import ChoiceOperators
from pmfnas.spaces.counting import count_flops
from pmfnas.study import StudyResult
from pmfnas.training import TrainingRecipe
from pmfnas.types import Arch, Fidelity, Result, Trial

OPS = ("conv3x3", "conv1x1", "maxpool", "skip")
LAYERS = 3


@SPACES.register("chain")
class ChainSpace(ChoiceOperators):
    """Chains of ``LAYERS`` layers, each one of ``OPS``: 4³ = 64 architectures.

    An architecture is a tuple of op ids, written ``conv3x3-skip-conv1x1``. As for NB201's
    cells (an op per edge), sampling, mutation, crossover, neighbours and the encoding are
    those of a tuple of choices, inherited from :class:`ChoiceOperators`.
    """

    name = "chain"
    positions = LAYERS
    options = len(OPS)

    def parse(self, text: str) -> Arch:
        names = text.split("-")
        if len(names) != LAYERS or not set(names) <= set(OPS):
            raise ArchitectureError(
                f"a chain is {LAYERS} of {', '.join(OPS)} joined by '-', got {text!r}"
            )
        return tuple(OPS.index(name) for name in names)

    def format(self, arch: Arch) -> str:
        return "-".join(OPS[op] for op in arch)

    def resolve(self, text: str) -> Arch:
        return self.parse(text.strip())

    def network(
        self,
        arch: Arch,
        *,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        input_channels: int,
    ) -> nn.Module:
        """A 3×3 stem, the chain repeated ``cells_per_stage`` times, then pooling and a
        linear classifier; every layer keeps the image size."""
        layers: list[nn.Module] = [
            nn.Conv2d(input_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        ]
        for _ in range(cells_per_stage):
            layers += [_op(OPS[op], channels) for op in arch]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
        return nn.Sequential(*layers)

    def check_buildable(
        self, data: ImageDataset, channels: int, cells_per_stage: int, resolution: int = 0
    ) -> None:
        if channels > 256 or cells_per_stage > 10:
            raise ConfigError(
                f"chain networks take at most 256 channels and 10 repeats, "
                f"got {channels} and {cells_per_stage}"
            )

    def forward_flops(
        self,
        arch: Arch,
        *,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        input_size: int,
        input_channels: int,
    ) -> float:
        """Counted on a throw-away network (``count_flops`` gives millions), leaving the
        caller's random state as it was."""
        with torch.random.fork_rng(devices=[]):
            model = self.network(
                arch,
                channels=channels,
                cells_per_stage=cells_per_stage,
                num_classes=num_classes,
                input_channels=input_channels,
            )
        return count_flops(model, input_size, input_channels) * 1e6

    def typical(self) -> Arch:
        return self.parse("conv1x1-conv1x1-conv1x1")


def _op(name: str, channels: int) -> nn.Module:
    if name == "skip":
        return nn.Identity()
    if name == "maxpool":
        return nn.MaxPool2d(3, stride=1, padding=1)
    size = 3 if name == "conv3x3" else 1
    conv = nn.Conv2d(channels, channels, size, padding=size // 2, bias=False)
    return nn.Sequential(nn.ReLU(), conv, nn.BatchNorm2d(channels))


# -- search 1: pmfnas's training evaluator on the embedded digits ---------------------------

RECIPE = TrainingRecipe(batch_size=32, channels=8, cells_per_stage=1)
"""Small networks for the 8 × 8 digits; the rest is NB201's recipe (SGD, cosine schedule)."""

REA = {"population": 4, "sample_size": 2, "fidelity": "epochs=2"}
BUDGET = 3e9
"""FLOPs: counted, not timed, so the search does the same on every machine."""


def search_with_pmfnas_training(storage: Path | None = None) -> StudyResult:
    """REA over the chain space, every candidate trained by pmfnas on the digits."""
    space = ChainSpace()
    digits = load_dataset("digits", split="holdout")
    evaluator = TrainingEvaluator(digits, RECIPE, budget_unit="flops", space=space)
    spec = SearchSpec(
        evaluator, "rea", BUDGET, seed=0, params=REA, space=space, storage=storage, study="chain"
    )
    with open_study(spec) as study:
        return study.run()


# -- search 2: a training function of one's own --------------------------------------------


def train(model: nn.Module, data: dict[str, torch.Tensor], epochs: int, seed: int) -> float:
    """Plain PyTorch: Adam on the training images, then the validation accuracy (%)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(data["train_y"]), generator=generator).split(32):
            x, y = data["train_x"][batch], data["train_y"][batch]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(data["valid_x"]).argmax(dim=1)
    return 100.0 * (predicted == data["valid_y"]).float().mean().item()


def digits_tensors() -> dict[str, torch.Tensor]:
    """scikit-learn's digits as float tensors, a seeded fifth held out for validation."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    valid, train_ = order[: len(y) // 5], order[len(y) // 5 :]
    return {"train_x": x[train_], "train_y": y[train_], "valid_x": x[valid], "valid_y": y[valid]}


NETWORK = {"channels": 8, "cells_per_stage": 1, "num_classes": 10, "input_channels": 1}
"""The size of the networks :class:`OwnTraining` trains (the digits: 10 classes, one channel)."""


class OwnTraining:
    """An evaluator (the protocol of :mod:`pmfnas.evaluators.base`) around :func:`train`.

    It charges each training its counted FLOPs (three forward passes per training image and
    epoch), so its searches are reproducible like those of pmfnas's own evaluator.
    """

    budget_unit = "flops"
    ladder = Ladder(single=Fidelity(epochs=2))  # the fidelity a single-fidelity search trains at

    def __init__(self, space: ChainSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.data = digits_tensors()
        self.trainings = 0

    def describe(self) -> dict[str, str]:
        """Stored with the study: a resume with another evaluator is refused."""
        return {"evaluator": "own-training", "data": "sklearn-digits", "seed": str(self.seed)}

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        forward = self.space.forward_flops(arch, input_size=8, **NETWORK)
        return 3 * forward * len(self.data["train_y"]) * fidelity.epochs

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        self.trainings += 1
        torch.manual_seed(self.seed)
        model = self.space.network(arch, **NETWORK)
        val_acc = train(model, self.data, fidelity.epochs, self.seed)
        return Result(metrics={"val_acc": val_acc}, cost=self.expected_cost(arch, fidelity))

    def observe(self, trial: Trial) -> None:
        """Nothing to learn from a replayed trial: costs are counted, not measured."""

    def test_accuracy(self, arch: Arch) -> None:
        return None


def search_with_own_training(storage: Path | None = None) -> tuple[StudyResult, OwnTraining]:
    """REA over the chain space, every candidate trained by :func:`train`."""
    space = ChainSpace()
    evaluator = OwnTraining(space)
    spec = SearchSpec(
        evaluator, "rea", BUDGET, seed=0, params=REA, space=space, storage=storage, study="own"
    )
    with open_study(spec) as study:
        return study.run(), evaluator


def report(storage: Path, out: Path) -> Path:
    """The HTML report of the first search: ``pmfnas report`` from Python, after this module has
    registered the space (on the command line: ``pmfnas --plugin own_space.py report ...``)."""
    return write_study_report(storage, out, study="chain")


def main(storage: Path | None = None) -> None:
    """Run both searches (with ``storage``, a SQLite file: resumable) and print their results."""
    torch.set_num_threads(1)  # results differ bit-wise between thread counts
    space = ChainSpace()
    for title, result in (
        ("pmfnas training", search_with_pmfnas_training(storage)),
        ("own training", search_with_own_training(storage)[0]),
    ):
        best = result.best
        print(
            f"{title}: {space.format(best.arch)}, validation accuracy {best.val_acc:.1f} % "
            f"after {len(result.trials)} trials ({result.spent:.3g} of {BUDGET:.3g} FLOPs)"
        )


if __name__ == "__main__":
    main()
