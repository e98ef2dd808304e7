"""Evaluation by real training: a network of the search space trained on real data at a fidelity.

A training fidelity (``epochs=E`` plus the optional knobs ``fraction``, ``resolution``,
``channels`` and ``cells``, see :class:`~pmfnas.types.Fidelity`) sets how much of the recipe is
run. The search signal ``val_acc`` is the validation accuracy after the last epoch; the test
accuracy is measured too but kept out of the strategy's sight (stored in the trial's info, read
only by reports). The cost is the measured wall time or the counted FLOPs (``budget_unit``; both
are stored in the trial's info, see :mod:`pmfnas.evaluators.work`).

A wall-clock training never outlasts the budget: it is expected to take the seconds of epochs
already trained at its setting, scaled by FLOPs (a probe of a few batches before the first one),
and one still running when the budget ends stops at the next batch boundary, its result marked
``stopped``. Under a FLOPs budget the cost is known exactly beforehand, so nothing is cut short.

A training that extends an earlier, shorter one of the same architecture and schedule
(``epochs=12`` after ``epochs=3,horizon=12``) continues from its state and costs only the new
epochs, so a multi-fidelity strategy pays once for the epochs a promoted candidate already had.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from pmfnas.data import ImageDataset, cap_images, take_fraction
from pmfnas.errors import ConfigError, FidelityError
from pmfnas.evaluators.base import BudgetUnit, Ladder
from pmfnas.evaluators.work import TRAIN_PASSES, EpochTimes, epoch_flops
from pmfnas.outputs import writable_folder
from pmfnas.spaces import SearchSpace, create_space
from pmfnas.spaces.counting import count_parameters
from pmfnas.training import FitResult, TrainingRecipe, TrainingWatcher, evaluate, fit
from pmfnas.training.loop import Device, train_batches, train_step
from pmfnas.types import Arch, Fidelity, Result, Trial, check_seed

PROBE_STEPS = 3
"""Timed training steps (after one untimed warm-up) that estimate a new setting's epoch time."""

EVALUATION_SEED = 0
"""Which images a capped validation or test part keeps, whatever the search seed."""

TRAINING_LADDER = Ladder(
    medium=Fidelity(epochs=4),
    high=Fidelity(epochs=12),
    single=Fidelity(epochs=12),
    default_budget=180.0,
    params={"pmf": {"low_share": 0.1, "low_sample": 500, "patience": 5}},
)
"""The training fidelities of a search of minutes: NB201's 12-epoch schedule is the full
fidelity (and the one of single-fidelity strategies, as on the table), since the table's 200
epochs do not fit; the medium rung is a complete 4-epoch schedule on all the data, a third of
the work. A medium rung needs enough optimizer steps to rank: on the digits, 3 epochs on half
the data (27 steps of 64 images) ranked no better than chance (``benchmarks/digits_fidelities.py``).
The default budget is three minutes of wall clock; a FLOPs budget has no default.

PMF's stage 1 may take 10 % of the budget there and at most 500 cells: proxies count few FLOPs,
so under a compute budget the share alone would let stage 1 take most of the wall time. A stall
is 5 medium results without a better one, since a search of minutes affords only about a hundred
medium runs and the tabular patience of 20 would leave few candidates for the 12-epoch rung
(``docs/results.md``)."""


class TrainingEvaluator:
    """Train the space's networks on ``data`` with ``recipe`` and report their learning curves.

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
        watcher: hears each training's course (where it resumed, its batches and epochs).
        budget_unit: ``"wall"`` (costs are measured seconds) or ``"flops"`` (counted FLOPs).
        clock: the wall clock that stops a training at its limit (a test may pass a fake one).
        space: the search space whose networks are trained (default: NAS-Bench-201's).
    """

    def __init__(
        self,
        data: ImageDataset,
        recipe: TrainingRecipe | None = None,
        *,
        device: str = "cpu",
        amp: bool | None = None,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
        watcher: TrainingWatcher | None = None,
        budget_unit: BudgetUnit = "wall",
        clock: Callable[[], float] = time.perf_counter,
        space: SearchSpace | None = None,
    ) -> None:
        if budget_unit not in ("wall", "flops"):
            raise ConfigError(
                f"real training is budgeted in wall seconds or FLOPs, not {budget_unit}"
            )
        if not data.has("valid"):
            raise ConfigError(
                f"training evaluation needs a validation part; load {data.name} with "
                "split='holdout' (or 'nb201' / 'train-valid')"
            )
        self.space = space or create_space()
        self.recipe = recipe or TrainingRecipe()
        recipe = self.recipe
        self.space.check_buildable(data, recipe.channels, recipe.cells_per_stage, recipe.resolution)
        self.data = cap_images(
            cap_images(data, "valid", self.recipe.valid_images, EVALUATION_SEED),
            "test",
            self.recipe.test_images,
            EVALUATION_SEED,
        )
        self.run = Device.of(device, amp)
        self.seed = check_seed(seed)
        self.checkpoint_dir = checkpoint_dir and writable_folder(
            checkpoint_dir, "checkpoint folder"
        )
        self.watcher = watcher
        self.budget_unit: BudgetUnit = budget_unit
        self.clock = clock
        self.threads = torch.get_num_threads()
        """Torch's thread count when the evaluator was made: results differ bit-wise by it."""
        self.ladder = replace(
            TRAINING_LADDER,
            default_budget=TRAINING_LADDER.default_budget if budget_unit == "wall" else None,
            network_size=self.network_size,
        )
        """:data:`TRAINING_LADDER`, counting the networks at the recipe's size."""
        self._datasets: dict[tuple[float, int], ImageDataset] = {}
        self._times = EpochTimes()
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def describe(self) -> dict[str, str]:
        """What the results depend on (the device does not enter: a study may move machines)."""
        return {
            "evaluator": "training",
            "data": self.data.name,
            "split": self.data.split,
            "recipe": json.dumps(self.recipe.as_dict(), sort_keys=True),
            "seed": str(self.seed),
            "budget_unit": self.budget_unit,
            "threads": str(self.threads),
        }

    def setting(self, fidelity: Fidelity) -> Fidelity:
        """``fidelity`` with the recipe's data and network setting for every knob it leaves at
        the default: what is actually trained."""
        recipe = self.recipe
        return replace(
            fidelity,
            fraction=recipe.fraction if fidelity.fraction == 1 else fidelity.fraction,
            resolution=fidelity.resolution or recipe.resolution,
            channels=fidelity.channels or recipe.channels,
            cells=fidelity.cells or recipe.cells_per_stage,
        )

    def network(self, arch: Arch, fidelity: Fidelity | None = None) -> nn.Module:
        """The freshly initialised network of ``arch`` at ``fidelity``'s size (seeded)."""
        knobs = self.setting(fidelity or Fidelity(epochs=1))
        head = {"auxiliary": True} if self.recipe.auxiliary_weight else {}  # DARTS' recipe
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.space.network(
                arch,
                channels=knobs.channels,
                cells_per_stage=knobs.cells,
                num_classes=self.data.num_classes,
                input_channels=self.data.channels,
                **head,
            )

    def dataset(self, fidelity: Fidelity | None = None) -> ImageDataset:
        """The data at ``fidelity``'s fraction and resolution (made once, then kept)."""
        knobs = self.setting(fidelity or Fidelity(epochs=1))
        key = (knobs.fraction, knobs.resolution)
        if knobs.resolution:
            self.space.check_buildable(self.data, knobs.channels, knobs.cells, knobs.resolution)
        if key not in self._datasets:
            data = take_fraction(self.data, knobs.fraction, self.seed)
            self._datasets[key] = data.resized(knobs.resolution) if knobs.resolution else data
        return self._datasets[key]

    def forward_flops(self, arch: Arch, fidelity: Fidelity) -> float:
        """FLOPs of one image's forward pass through ``arch``'s network at ``fidelity``."""
        data = self.dataset(fidelity)
        knobs = self.setting(fidelity)
        try:
            return self.space.forward_flops(
                arch,
                channels=knobs.channels,
                cells_per_stage=knobs.cells,
                num_classes=data.num_classes,
                input_size=data.image_size[0],
                input_channels=data.channels,
            )
        except ValueError as exc:
            raise ConfigError(f"cannot train at {fidelity} on {data.name}: {exc}") from None

    def network_size(self, arch: Arch) -> tuple[float, float]:
        """Parameters and forward FLOPs per image (millions) of ``arch``'s network at the
        recipe's full setting."""
        full = Fidelity(epochs=1)
        return count_parameters(self.network(arch)) / 1e6, self.forward_flops(arch, full) / 1e6

    def _work(self, arch: Arch, fidelity: Fidelity) -> tuple[float, float, float]:
        """(forward FLOPs per image, FLOPs of one epoch, FLOPs of the test pass)."""
        data = self.dataset(fidelity)
        forward = self.forward_flops(arch, fidelity)
        sizes = [len(data.part(p)[1]) for p in ("train", "valid", "test")]
        return forward, epoch_flops(forward, sizes[0], sizes[1]), forward * sizes[2]

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        """The work of the epochs ``arch`` still needs (those after a kept shorter training) and
        of its test pass: counted FLOPs, or their seconds as the epochs already trained at this
        setting predict them (a probe of a few batches before the first)."""
        self._require_training(fidelity)
        forward, epoch, test = self._work(arch, fidelity)
        prefix = self._prefix(arch, fidelity)
        flops = (fidelity.epochs - (prefix[0] if prefix else 0)) * epoch + test
        if self.budget_unit == "flops":
            return flops
        seconds = self._times.predict(self._epoch_key(fidelity), forward)
        if seconds is None:
            seconds = self._probe(arch, fidelity)
        return seconds * flops / epoch

    def seconds_per_flop(self, arch: Arch, fidelity: Fidelity) -> float:
        """Seconds per training FLOP of ``arch`` at ``fidelity``'s setting, from
        :data:`PROBE_STEPS` timed training steps of a throw-away copy of its network (after
        one untimed warm-up step: the first allocates)."""
        data = self.dataset(fidelity)
        model = self.network(arch, fidelity).to(self.run.device)
        optimizer, _ = self.recipe.optimizer(model, PROBE_STEPS + 1)
        generator = torch.Generator().manual_seed(self.seed)
        batches = train_batches(data, self.recipe, generator, self.run)
        model.train()
        timed, images = [], []
        for x, y in itertools.islice(batches, PROBE_STEPS + 1):
            start = time.perf_counter()
            loss, _ = train_step(model, x, y, optimizer, self.run, self.recipe)
            float(loss)  # wait for the device
            timed.append(time.perf_counter() - start)
            images.append(len(y))
        if len(timed) > 1:  # with a single batch per epoch the warm-up is all there is
            timed, images = timed[1:], images[1:]
        return sum(timed) / (TRAIN_PASSES * self.forward_flops(arch, fidelity) * sum(images))

    def _probe(self, arch: Arch, fidelity: Fidelity) -> float:
        """Seconds of one epoch at a setting not trained before, from its probed speed."""
        forward, epoch, _ = self._work(arch, fidelity)
        seconds = self.seconds_per_flop(arch, fidelity) * epoch
        self._times.add_probe(self._epoch_key(fidelity), forward, seconds)
        return seconds

    def _epoch_key(self, fidelity: Fidelity) -> Fidelity:
        """What an epoch's time depends on: the data and network setting, not the schedule."""
        return replace(self.setting(fidelity), epochs=1, horizon=0)

    def __getstate__(self) -> dict[str, Any]:
        """A copy sent to a worker process shares this evaluator's scratch folder (made now if
        need be), so that a training continues the prefix another worker trained; the folder
        stays this evaluator's to remove. The watcher stays here: a worker's batches are not
        shown."""
        if self.checkpoint_dir is None and self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="pmfnas-prefixes-")
        state = {**self.__dict__, "watcher": None}
        if self._scratch is not None:
            state["_scratch"] = SimpleNamespace(name=self._scratch.name)
        return state

    def observe(self, trial: Trial) -> None:
        """Learn the epoch times of a trial trained elsewhere (replayed, or by a worker
        process), as if it had just been trained here."""
        if not trial.fidelity.is_proxy:
            self._learn(trial.arch, trial.fidelity, trial.curve)

    def _learn(self, arch: Arch, fidelity: Fidelity, curve: tuple[dict[str, float], ...]) -> None:
        forward = self.forward_flops(arch, fidelity)
        for row in curve:
            self._times.add(self._epoch_key(fidelity), forward, row["seconds"])

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

    def _require_training(self, fidelity: Fidelity) -> None:
        if fidelity.is_proxy:
            raise FidelityError(
                f"the training evaluator serves training fidelities, not {fidelity}"
            )

    def train(
        self, arch: Arch, fidelity: Fidelity, limit: float | None = None
    ) -> tuple[nn.Module, Result]:
        """Train ``arch`` at ``fidelity``; the trained network and its result. Under a wall
        budget, a training whose cost reaches ``limit`` stops at the next batch boundary."""
        self._require_training(fidelity)
        start = self.clock()
        data = self.dataset(fidelity)
        model = self.network(arch, fidelity)
        prefix = self._prefix(arch, fidelity)

        def out_of_budget() -> bool:
            return limit is not None and self.clock() - start >= limit

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
            watcher=self.watcher,
            stop=out_of_budget if self.budget_unit == "wall" else None,
        )
        self._learn(arch, fidelity, trained.curve[prefix[0] if prefix else 0 :])
        _, epoch, test_flops = self._work(arch, fidelity)
        paid = (trained.stopped_after or fidelity.epochs) - (prefix[0] if prefix else 0)
        flops = paid * epoch
        if trained.stopped_after is not None:
            private = {"epochs_done": trained.stopped_after, "flops": flops}
            return model, self._result({}, self.clock() - start, flops, trained, private)
        tested = self.clock()
        test = evaluate(model, data, "test", self.recipe.eval_batch_size, self.run)
        # the prefix's epochs were paid for; a training answered from its checkpoint costs
        # what it cost when it ran
        seconds = trained.seconds - trained.base_seconds + self.clock() - tested
        last = trained.last
        metrics = {
            "val_acc": last["valid_acc"],
            "val_loss": last["valid_loss"],
            "train_acc": last["train_acc"],
            "train_loss": last["train_loss"],
        }
        private = {"test_acc": test["test_acc"], "test_loss": test["test_loss"]}
        return model, self._result(metrics, seconds, flops + test_flops, trained, private)

    def _result(
        self,
        metrics: dict[str, float],
        seconds: float,
        flops: float,
        trained: FitResult,
        private: dict[str, float],
    ) -> Result:
        return Result(
            metrics=metrics,
            cost=flops if self.budget_unit == "flops" else seconds,
            curve=trained.curve,
            private={**private, "seconds": seconds, "flops": flops},
            stopped=trained.stopped_after is not None,
        )

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        return self.train(arch, fidelity, limit)[1]

    def test_accuracy(self, arch: Arch) -> None:
        """Unknown without a training: read ``test_acc`` from the trial's info instead."""
        return None


def _whole(fidelity: Fidelity) -> Fidelity:
    """The whole schedule ``fidelity`` is part of (itself when it has no horizon)."""
    return replace(fidelity, epochs=fidelity.schedule, horizon=0)
