"""Where evaluations run: in this process, on simulated workers, in local worker processes,
or on a Ray cluster, all behind one interface (:class:`Executor`)."""

from collections.abc import Sequence

from pmfnas.errors import ConfigError
from pmfnas.executors.base import Executor, Guarded, Job
from pmfnas.executors.process import ProcessExecutor
from pmfnas.executors.serial import SerialExecutor
from pmfnas.executors.simulated import SimulatedExecutor

EXECUTORS = ("serial", "simulated", "process", "ray")
"""The executors by name (``--executor``)."""


def check_executor(
    kind: str,
    *,
    address: str | None = None,
    gpu_share: float | None = None,
    known: Sequence[str] = EXECUTORS,
) -> None:
    """A ``ConfigError`` unless ``kind`` is one of ``known`` and the Ray-only settings come
    with Ray: the one check of ``create_executor`` and of the commands, before any work."""
    if kind not in known:
        raise ConfigError(f"unknown executor {kind!r} (known: {', '.join(known)})")
    if (address is not None or gpu_share is not None) and kind != "ray":
        raise ConfigError("--address and --gpu-share are for a Ray cluster: add --executor ray")


def training_executor(kind: str | None, workers: int | None) -> str | None:
    """Where a real-training search runs when ``kind`` is not said: in this process with one
    worker (``None``), on local processes with several."""
    return kind or ("process" if workers and workers > 1 else None)


def create_executor(
    kind: str,
    workers: int | None = None,
    *,
    threads: int | None = None,
    gpus: Sequence[int] = (),
    address: str | None = None,
    gpu_share: float | None = None,
) -> Executor:
    """The executor called ``kind``: ``workers`` at once (the executor's default if ``None``),
    ``threads`` per process worker, ``gpus`` given out to process workers in turn; for Ray, the
    ``address`` of a running cluster and the ``gpu_share`` of a GPU each trial asks for."""
    check_executor(kind, address=address, gpu_share=gpu_share)
    if kind == "serial":
        if workers not in (None, 1):
            raise ConfigError("the serial executor has one worker: drop --workers")
        return SerialExecutor()
    if kind == "simulated":
        return SimulatedExecutor(workers or 1)
    if kind == "process":
        return ProcessExecutor(workers, threads=threads, gpus=gpus)
    from pmfnas.executors.ray import RayExecutor  # Ray is an optional extra

    return RayExecutor(workers, address=address, gpus_per_trial=gpu_share or 0.0)


__all__ = [
    "EXECUTORS",
    "Executor",
    "Guarded",
    "Job",
    "ProcessExecutor",
    "SerialExecutor",
    "SimulatedExecutor",
    "check_executor",
    "create_executor",
    "training_executor",
]
