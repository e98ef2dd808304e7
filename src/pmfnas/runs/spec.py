"""The composition root: one place that turns a search specification into a runnable study.

``pmfnas search``, ``pmfnas bench`` and the benchmark scripts all describe a search as a
:class:`SearchSpec` and run it through :func:`open_study`, so a study is assembled the same way
whichever door it came in by (the same strategy construction, storage handling and naming).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmfnas.evaluators.base import Evaluator
from pmfnas.executors import Executor, create_executor
from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import SearchSpace, create_space
from pmfnas.storage import Storage
from pmfnas.strategies import BaseStrategy, strategy_from
from pmfnas.study import MAX_FAILURES_IN_A_ROW, RETRIES, Study


@dataclass(frozen=True)
class SearchSpec:
    """Everything that determines a study: what is measured, by whom, within what, where kept.

    ``params`` are the strategy's own (unknown ones are a ``ConfigError`` when the strategy is
    built), over the fidelities the evaluator offers (its ``ladder``); ``storage`` is an SQLite
    file (``None``: trials in memory only) in which the study is called ``study``; ``reuse``
    serves a repeated request from the earlier trial for free.
    """

    evaluator: Evaluator
    strategy: str
    budget: float
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    space: SearchSpace = field(default_factory=create_space)
    storage: str | Path | None = None
    study: str = "default"
    reuse: bool = True
    retries: int = RETRIES
    """Times a failed evaluation is run again before the strategy is told it failed."""
    max_failures: int = MAX_FAILURES_IN_A_ROW
    """Evaluations told failed in a row after which the search stops."""
    workers: int | None = 1
    """Evaluations in flight at once (more than one without an ``executor``: simulated workers,
    a tabular evaluator; ``None``: as many as a Ray cluster's CPUs hold)."""
    executor: str | None = None
    """Where evaluations run (:data:`pmfnas.executors.EXECUTORS`; ``None``: in this process,
    or on simulated workers when there are several)."""
    threads: int | None = None
    """PyTorch threads per process worker (default: the cores shared out)."""
    gpus: tuple[int, ...] = ()
    """GPUs for the workers: one per process worker in turn, or one per Ray trial."""
    address: str | None = None
    """A running Ray cluster's address (``auto``: the one on this machine)."""
    gpu_share: float | None = None
    """The share of a GPU each Ray trial asks for (0.5: two trials per GPU)."""

    def build_executor(self) -> Executor | None:
        """The executor of a parallel study, ``None`` for the serial one."""
        if self.executor in (None, "serial") and self.workers == 1:
            return None
        return create_executor(
            self.executor or "simulated",
            self.workers,
            threads=self.threads,
            gpus=self.gpus,
            address=self.address,
            gpu_share=self.gpu_share,
        )

    def build_strategy(self) -> BaseStrategy:
        """The strategy, taking the fidelities its parameters do not name from the evaluator's
        ladder."""
        return strategy_from(
            self.strategy, self.space, self.params, seed=self.seed, ladder=self.evaluator.ladder
        )


@contextmanager
def open_study(spec: SearchSpec) -> Iterator[Study | ParallelStudy]:
    """The study of ``spec`` (asynchronous with several workers or a named executor), with its
    storage file open while the block runs."""
    strategy = spec.build_strategy()
    executor = spec.build_executor()
    with Storage(spec.storage) if spec.storage else nullcontext() as db:
        if executor is not None:
            yield ParallelStudy(
                spec.space,
                spec.evaluator,
                strategy,
                spec.budget,
                executor=executor,
                storage=db,
                name=spec.study,
                reuse=spec.reuse,
                retries=spec.retries,
                max_failures=spec.max_failures,
            )
        else:
            yield Study(
                spec.space,
                spec.evaluator,
                strategy,
                spec.budget,
                storage=db,
                name=spec.study,
                reuse=spec.reuse,
                retries=spec.retries,
                max_failures=spec.max_failures,
            )


def study_name(
    strategy: str,
    dataset: str,
    seed: int,
    protocol: str = "default",
    workers: int = 1,
    benchmark: str = "nb201",
) -> str:
    """The default name of a benchmark's study, shared by ``pmfnas search`` and ``pmfnas bench``
    so that both find each other's stored runs: NB201's by its dataset, another benchmark's by
    its name (``pmf-nb301-seed0``); ``-peers`` marks the peers' protocol and ``-w<k>`` a search
    with k workers, so one file can hold the runs of each."""
    where = dataset if benchmark == "nb201" else benchmark
    suffix = "" if protocol == "default" else f"-{protocol}"
    return f"{strategy}-{where}-seed{seed}{suffix}" + (f"-w{workers}" if workers > 1 else "")


def training_study_name(
    strategy: str, data: str, seed: int, workers: int | None = 1, executor: str | None = None
) -> str:
    """The default name of a real-training study on the dataset named ``data``: rerunning the
    same search resumes it; ``-w<k>`` marks k workers, ``-ray`` a Ray cluster's."""
    name = f"{strategy}-{data}-train-seed{seed}" + ("-ray" if executor == "ray" else "")
    return name + (f"-w{workers}" if workers and workers > 1 else "")
