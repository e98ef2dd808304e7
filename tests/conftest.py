"""Shared fixtures: where the benchmark data lives and the official NB201 records in it, the
fidelity ladder strategies are built on in tests, a toy evaluator, and the ``pmfnas`` command run
in-process or as a child process.

The tests mirror the package's folders. A plain ``pytest`` runs them in its default import mode:
fixtures need no import (pytest finds them here for every test below ``tests/``), and no
``__init__.py`` or path setting is needed because every test file's name is unique.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
import pytest

from pmfnas.cli import main
from pmfnas.evaluators.base import Ladder
from pmfnas.evaluators.proxy_table import ProxyTable
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.executors import SimulatedExecutor
from pmfnas.safe_pickle import load_pickle
from pmfnas.spaces import DartsSpace, sample_fingerprint
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.costs import DATASET_SHAPES
from pmfnas.tables.nb201 import NB201Benchmark
from pmfnas.tables.nb301 import FILES as NB301_FILES
from pmfnas.tables.nb301 import NB301Surrogate
from pmfnas.types import Arch, Fidelity, Result, Trial

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


@pytest.fixture
def data_env(data_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data folder, set in the environment (with the session's cache) for the commands a
    test runs, in-process or as child processes."""
    monkeypatch.setenv("PMFNAS_DATA", str(data_dir))
    monkeypatch.setenv("PMFNAS_CACHE", str(cache_dir))
    return data_dir


@pytest.fixture(scope="session")
def nb301_dir(data_dir: Path) -> Path:
    """YAHPO Gym's NAS-Bench-301 surrogate folder; skips without it or without onnxruntime."""
    folder = data_dir / "darts" / "yahpo_nb301"
    if not all((folder / name).is_file() for name in NB301_FILES):
        files = ", ".join(NB301_FILES)
        pytest.skip(f"YAHPO Gym's nb301 surrogate ({files}) not found in {folder}")
    pytest.importorskip("onnxruntime", reason="the surrogate needs pip install 'pmfnas[onnx]'")
    return folder


@pytest.fixture(scope="session")
def surrogate(nb301_dir: Path) -> NB301Surrogate:
    return NB301Surrogate(nb301_dir)


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


# ---------------------------------------------------------------- a toy evaluator


class ToyEvaluator:
    """A tiny deterministic evaluator for the loop and the strategies, with no data file.

    Accuracy grows with the number of 3×3 convolutions; 200 epochs add 5 points; an epoch costs
    1 s. It offers NB201's ladder; a proxy scores the accuracy, at 0.5 s. Like a real training,
    each result carries a test accuracy in its private part, never shown to a strategy: noise
    drawn from ``test_seed``, so that two searches whose toys differ in that seed alone ask the
    same things unless the strategy peeks.
    """

    budget_unit = "simulated"
    ladder = NB201_LADDER

    def __init__(self, test_seed: int = 0) -> None:
        self.calls = 0
        self.test_seed = test_seed

    def describe(self) -> dict[str, str]:
        return {"benchmark": "toy"}

    def expected_cost(self, arch: Arch, fidelity: Fidelity) -> float:
        return float(fidelity.epochs) if fidelity.epochs else 0.5

    def evaluate(self, arch: Arch, fidelity: Fidelity, limit: float | None = None) -> Result:
        self.calls += 1
        acc = 50.0 + 5.0 * sum(op == 3 for op in arch) + 0.1 * sum(arch)
        if fidelity.epochs >= 200:
            acc += 5.0
        metrics = dict.fromkeys(fidelity.proxies, acc) if fidelity.is_proxy else {"val_acc": acc}
        return Result(
            metrics=metrics,
            cost=self.expected_cost(arch, fidelity),
            private={"test_acc": self._test_acc(arch)},
        )

    def observe(self, trial: Trial) -> None:
        pass

    def test_accuracy(self, arch: Arch) -> float:
        return self._test_acc(arch)

    def _test_acc(self, arch: Arch) -> float:  # not test_accuracy, which a test may refuse
        return float(np.random.default_rng([self.test_seed, *arch]).uniform(0.0, 100.0))


class JournaledSimulation(SimulatedExecutor):
    """Simulated workers that a study treats as real ones: it journals their steps and resumes
    by replaying the journal, deterministically (like a real executor, they promise no
    committed work to the strategy)."""

    kind = "journaled"

    def committed(self) -> float:
        return 0.0


@pytest.fixture
def journaled_executor() -> type[JournaledSimulation]:
    """The :class:`JournaledSimulation` class: call it with the workers."""
    return JournaledSimulation


@pytest.fixture
def toy_evaluator() -> type[ToyEvaluator]:
    """The :class:`ToyEvaluator` class: call it for a fresh one (its ``calls`` count from 0)."""
    return ToyEvaluator


def make_darts_table(path: Path, count: int = 40, seed: int = 4, **changes: object) -> ProxyTable:
    """A DARTS proxy table of cifar10 written by hand (no proxy computed): key i's ``nwot`` is i,
    measured in 0.5 s; ``changes`` replace settings (a table the surrogate cannot use)."""
    settings = {
        "space": "darts",
        "data": "cifar10",
        "batch_size": 64,
        "channels": 8,
        "cells_per_stage": 1,
        "seed": seed,
        "sample_seed": seed,
        "sample": sample_fingerprint(DartsSpace(), seed),
        **changes,
    }
    with ProxyTable(path, settings) as table:
        for key in range(count):
            table.put(key, {"nwot": (float(key), 0.5)})
    return ProxyTable.open(path)


@pytest.fixture
def darts_table() -> Callable[..., ProxyTable]:
    """:func:`make_darts_table`: call it with the file (and count, seed or settings changes)."""
    return make_darts_table


# ---------------------------------------------------------------- the pmfnas command

SAFETY_TIMEOUT = 600.0
"""Seconds after which a test waiting on a child process gives up: a safety net only, never a
condition."""


class Command:
    """The ``pmfnas`` command, run in-process as the console script would (its output captured),
    or as a child process, to interrupt it once it has reached a given point."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.children: list[subprocess.Popen[str]] = []
        self.outputs: dict[int, tuple[IO[str], IO[str]]] = {}

    def exit_code(self, *argv: object) -> int:
        """The exit code of ``pmfnas *argv``."""
        with pytest.raises(SystemExit) as exit_info:
            main([str(arg) for arg in argv])
            sys.exit(0)
        return exit_info.value.code

    def run(self, *argv: object) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of ``pmfnas *argv``."""
        code = self.exit_code(*argv)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def spawn(self, *argv: object) -> subprocess.Popen[str]:
        """``python -m pmfnas *argv`` as a child process whose output the test collects (one still
        running when the test ends is killed).

        Its output goes to files, not pipes: a child that writes much (a trial log line per
        trial) while the test waits for something else would block on a full pipe. Ctrl-C is
        restored to its default in the child: a shell running the tests in the background would
        otherwise pass SIGINT on as ignored.
        """
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by finish)
        child = subprocess.Popen(
            [sys.executable, "-m", "pmfnas", *map(str, argv)],
            stdout=out,
            stderr=err,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.children.append(child)
        self.outputs[child.pid] = (out, err)
        return child

    def wait_for(self, condition: Callable[[], bool], child: subprocess.Popen[str]) -> None:
        """Return once ``condition()`` holds; fail if the child ends first (or at the safety
        net)."""
        deadline = time.monotonic() + SAFETY_TIMEOUT
        while not condition():
            if child.poll() is not None:
                out, err = self.finish(child)
                pytest.fail(f"the command ended (code {child.returncode}) first:\n{out}\n{err}")
            if time.monotonic() > deadline:
                pytest.fail("the condition did not come true in time")
            time.sleep(0.02)

    def finish(self, child: subprocess.Popen[str]) -> tuple[str, str]:
        """(stdout, stderr) of the child once it has ended."""
        child.wait(timeout=SAFETY_TIMEOUT)
        texts = []
        for file in self.outputs.pop(child.pid):
            file.seek(0)
            texts.append(file.read())
            file.close()
        return texts[0], texts[1]

    def interrupt(self, child: subprocess.Popen[str], signum: int) -> tuple[str, str]:
        """Send the child ``signum`` (SIGINT: Ctrl-C); its (stdout, stderr) once it has ended."""
        child.send_signal(signum)
        return self.finish(child)

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            if child.pid in self.outputs:
                self.finish(child)


@pytest.fixture
def lint() -> Callable[[Path], None]:
    """Check a generated Python file with the project's own ruff settings (skips without ruff)."""

    def check(path: Path) -> None:
        if importlib.util.find_spec("ruff") is None:
            pytest.skip("ruff is not installed")
        config = REPO / "pyproject.toml"
        done = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--config", str(config), str(path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout

    return check


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Command]:
    """The ``pmfnas`` command (:class:`Command`)."""
    command = Command(capsys)
    yield command
    command.close()


def _stored_trials(path: Path) -> list[tuple[int, int, float]]:
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT study_id, number, started FROM trials ORDER BY 1, 2")
            return [tuple(row) for row in rows]
    except sqlite3.OperationalError:  # the schema is not written yet
        return []


@pytest.fixture
def stored_trials() -> Callable[[Path], list[tuple[int, int, float]]]:
    """``stored_trials(path)``: (study id, number, start time) of every trial in a storage file,
    none while it is new; it may be read while another process writes it."""
    return _stored_trials
