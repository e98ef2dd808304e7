"""Evaluation by real training: an NB201 network trained on a real dataset at a fidelity.

A training fidelity (``epochs=E`` plus the optional knobs ``fraction``, ``resolution``,
``channels`` and ``cells``, see :class:`~pmfnas.types.Fidelity`) sets how much of the recipe is
run. The search signal ``val_acc`` is the validation accuracy after the last epoch; the test
accuracy is measured too but kept out of the strategy's sight (stored in the trial's info, read
only by reports). The cost is the measured wall time.

A training that extends an earlier, shorter one of the same architecture and schedule
(``epochs=12`` after ``epochs=3,horizon=12``) continues from its state and costs only the new
epochs, so a multi-fidelity strategy pays once for the epochs a promoted candidate already had.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from statistics import mean
from typing import Any

import torch

from pmfnas.data import ImageDataset, take_fraction
from pmfnas.errors import ConfigError, FidelityError
from pmfnas.evaluators.base import BudgetUnit
from pmfnas.outputs import writable_folder
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201_costs import check_input_size
from pmfnas.spaces.networks import NB201Network, build_network, check_buildable
from pmfnas.training import TrainingRecipe, evaluate, fit
from pmfnas.training.loop import Device, Progress
from pmfnas.types import Arch, Fidelity, Result, check_seed


class TrainingEvaluator:
    """Train NB201 cells on ``data`` with ``recipe`` and report their learning curves.

    Args:
        data: a dataset with a validation part (load it with ``split="holdout"``, ``"nb201"`` ...).
        recipe: the training hyper-parameters (NB201's by default).
        device: ``cpu`` or ``cuda[:i]``; on CUDA, bfloat16 mixed precision and channels-last.
        amp: force mixed precision on or off (default: on for CUDA only).
        seed: initialises every network and orders every epoch's batches; same seed, same result
            (bit for bit on the CPU).
        checkpoint_dir: where each training saves its state after every epoch. A training
            interrupted by a crash resumes there from its last epoch, and one already finished
            is answered from its checkpoint (its measured seconds are still its cost). Without
            it, only prefix trainings (with a ``horizon``) are kept, in a scratch folder that
            lives as long as the evaluator, for longer trainings to continue.
        progress: called during each training with (epochs done, epochs).
    """

    budget_unit: BudgetUnit = "wall"

    def __init__(
        self,
        data: ImageDataset,
        recipe: TrainingRecipe | None = None,
        *,
        device: str = "cpu",
        amp: bool | None = None,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        if not data.has("valid"):
            raise ConfigError(
                f"training evaluation needs a validation part; load {data.name} with "
                "split='holdout' (or 'nb201' / 'train-valid')"
            )
        self.data = data
        self.recipe = recipe or TrainingRecipe()
        check_buildable(data, self.recipe.channels, self.recipe.cells_per_stage)
        self.run = Device.of(device, amp)
        self.seed = check_seed(seed)
        self.checkpoint_dir = checkpoint_dir and writable_folder(
            checkpoint_dir, "checkpoint folder"
        )
        self.progress = progress
        self.space = NB201Space()
        self._datasets: dict[tuple[float, int], ImageDataset] = {}
        self._epoch_costs: dict[Fidelity, list[float]] = {}
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def describe(self) -> dict[str, str]:
        """What the results depend on (the device does not enter: a study may move machines)."""
        return {
            "evaluator": "training",
            "data": self.data.name,
            "split": self.data.split,
            "recipe": json.dumps(self.recipe.as_dict(), sort_keys=True),
            "seed": str(self.seed),
        }

    def network(self, arch: Arch, fidelity: Fidelity | None = None) -> NB201Network:
        """The freshly initialised network of ``arch`` at ``fidelity``'s size (seeded)."""
        fidelity = fidelity or Fidelity(epochs=1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build_network(
                arch,
                channels=fidelity.channels or self.recipe.channels,
                cells_per_stage=fidelity.cells or self.recipe.cells_per_stage,
                num_classes=self.data.num_classes,
                input_channels=self.data.channels,
            )

    def dataset(self, fidelity: Fidelity) -> ImageDataset:
        """The data at ``fidelity``'s fraction and resolution (made once, then kept)."""
        key = (fidelity.fraction, fidelity.resolution)
        if fidelity.resolution:
            check_input_size(fidelity.resolution)
        if key not in self._datasets:
            data = take_fraction(self.data, fidelity.fraction, self.seed)
            self._datasets[key] = data.resized(fidelity.resolution) if fidelity.resolution else data
        return self._datasets[key]

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float | None:
        """The mean seconds per epoch of this schedule's earlier trainings times the epochs
        ``arch`` still needs (those after a kept shorter training); ``None`` before the first."""
        costs = self._epoch_costs.get(_whole(fidelity))
        if not costs:
            return None
        prefix = self._prefix(arch, fidelity)
        return mean(costs) * (fidelity.epochs - (prefix[0] if prefix else 0))

    def checkpoint_path(self, arch: Arch, fidelity: Fidelity) -> Path | None:
        """Where the training of ``arch`` at ``fidelity`` keeps its state (``None``: nowhere)."""
        folder = self._folder(fidelity, create=True)
        if folder is None:
            return None
        config = {**self._checkpoint_config(arch, fidelity), "epochs": fidelity.epochs}
        key = json.dumps(config, sort_keys=True)
        return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"

    def _folder(self, fidelity: Fidelity, create: bool) -> Path | None:
        if self.checkpoint_dir is not None:
            return self.checkpoint_dir
        if not fidelity.horizon:  # a whole schedule: nothing will continue it
            return None
        if self._scratch is None:
            if not create:
                return None
            self._scratch = tempfile.TemporaryDirectory(prefix="pmfnas-prefixes-")
        return Path(self._scratch.name)

    def _prefix(self, arch: Arch, fidelity: Fidelity) -> tuple[int, Path] | None:
        """The epochs and checkpoint of the longest kept training that ``fidelity`` extends."""
        for epochs in range(fidelity.epochs - 1, 0, -1):
            shorter = replace(fidelity, epochs=epochs, horizon=fidelity.schedule)
            if self._folder(shorter, create=False) is None:
                return None
            path = self.checkpoint_path(arch, shorter)
            if path is not None and path.is_file():
                return epochs, path
        return None

    def _checkpoint_config(self, arch: Arch, fidelity: Fidelity) -> dict[str, Any]:
        """What a checkpoint must match: the same for a prefix and the trainings extending it."""
        schedule = str(_whole(fidelity))
        return {**self.describe(), "arch": self.space.format(arch), "schedule": schedule}

    def train(self, arch: Arch, fidelity: Fidelity) -> tuple[NB201Network, Result]:
        """Train ``arch`` at ``fidelity``; the trained network and its result."""
        if fidelity.is_proxy:
            raise FidelityError(
                f"the training evaluator serves training fidelities, not {fidelity}"
            )
        data = self.dataset(fidelity)
        model = self.network(arch, fidelity)
        prefix = self._prefix(arch, fidelity)
        trained = fit(
            model,
            data,
            self.recipe,
            fidelity.epochs,
            horizon=fidelity.schedule,
            seed=self.seed,
            run=self.run,
            checkpoint=self.checkpoint_path(arch, fidelity),
            start_from=prefix[1] if prefix else None,
            checkpoint_config=self._checkpoint_config(arch, fidelity),
            progress=self.progress,
        )
        last = trained.last
        test = evaluate(model, data, "test", self.recipe.eval_batch_size, self.run)
        cost = trained.seconds - trained.base_seconds  # the prefix's epochs were paid for
        epoch_seconds = mean(row["seconds"] for row in trained.curve)
        self._epoch_costs.setdefault(_whole(fidelity), []).append(epoch_seconds)
        result = Result(
            metrics={
                "val_acc": last["valid_acc"],
                "val_loss": last["valid_loss"],
                "train_acc": last["train_acc"],
                "train_loss": last["train_loss"],
            },
            cost=cost,
            curve=trained.curve,
            private={"test_acc": test["test_acc"], "test_loss": test["test_loss"]},
        )
        return model, result

    def evaluate(self, arch: Arch, fidelity: Fidelity) -> Result:
        return self.train(arch, fidelity)[1]

    def test_accuracy(self, arch: Arch) -> None:
        """Unknown without a training: read ``test_acc`` from the trial's info instead."""
        return None


def _whole(fidelity: Fidelity) -> Fidelity:
    """The whole schedule ``fidelity`` is part of (itself when it has no horizon)."""
    return replace(fidelity, epochs=fidelity.schedule, horizon=0)
