"""Real trainings per wall minute: one process with every core, or a worker per core (issue 17).

The same search is run each way: random search on the digits at the training ladder's 12-epoch
fidelity under one FLOPs budget, so that every run trains the same networks (random search asks
the same cells whatever the results, and a FLOPs budget does not depend on the clock). Ways:

- ``serial``: the reference, one training at a time in this process on ``--cores`` threads;
- ``process``: ``--cores`` local worker processes of one thread each;
- ``ray``: a private local Ray instance of ``--cores`` CPUs that the search starts (and stops),
  one CPU per trial;
- ``ray-cluster``: the same on a Ray instance already running when the search starts (as on a
  cluster, where Ray is started once for many searches; its start is not timed).

Both Ray ways run inside a network namespace with only the loopback interface (this script
runs them under ``unshare -n``).

Reported per way and repeat: trainings completed, wall seconds from the study's start (worker
start-up included) to its end, trainings per minute, the speed-up over the serial run, and the
seconds the trainings themselves took (``training_s``) with the share of the workers' wall time
they filled (``utilisation``; the rest is start-up, scheduling and the last training's tail).
The table's ``ceiling`` is the speed-up a way would reach at full utilisation: how much one
training on one thread per core outpaces one training on every core, which bounds any executor.
Runs alternate between ways so that a busy machine slows all alike. Writes
``benchmarks/results/parallel_training.json`` (``parallel_training_S.json`` with a suffix).

On a GPU (``--device cuda``) every way trains there: the serial run alone, the process workers
on the GPUs of ``--gpus`` in turn (``--gpus 0`` with ``--cores 2``: two trainings share GPU 0).
``--data`` trains on other data than the digits (an image folder: say ``--data-dir`` too).

    PMFNAS_DATA=../shared/data python benchmarks/parallel_training.py [--repeats 2]
        [--ways serial,process,ray,ray-cluster] [--trainings 48] [--cores 2] [--suffix S]
        [--device cuda --gpus 0] [--data FOLDER --data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pmfnas.cli.search import parse_gpus
from pmfnas.executors import create_executor
from pmfnas.parallel import ParallelStudy
from pmfnas.runs.profiles import DEFAULT_DATA, search_evaluator
from pmfnas.strategies import create_strategy
from pmfnas.study import Study
from pmfnas.types import Fidelity

RESULTS = Path(__file__).parent / "results"
FIDELITY = Fidelity(epochs=12)
SEED = 0
PLANNED = 1e11
"""The FLOPs budget the training setting is planned for (the digits' setting is fixed anyway)."""


def run_way(way: str, args: argparse.Namespace) -> dict:
    """One search of about ``args.trainings`` 12-epoch trainings, run the ``way`` way."""
    trainings, cores = args.trainings, args.cores
    threads = cores if way == "serial" else 1
    evaluator = search_evaluator(
        args.data,
        budget=PLANNED,
        budget_unit="flops",
        seed=SEED,
        threads=threads,
        data_dir=args.data_dir,
        device=args.device,
    )
    space = evaluator.training.space
    probe = create_strategy("random", space, seed=SEED, ladder=evaluator.ladder)
    budget = sum(  # the FLOPs of the first ``trainings`` cells random search asks
        evaluator.expected_cost(probe.ask().arch, FIDELITY) or 0.0 for _ in range(trainings)
    )
    strategy = create_strategy("random", space, seed=SEED, ladder=evaluator.ladder)
    if way == "ray-cluster":
        import ray

        ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=200 * 1024**2)
    started = time.perf_counter()
    if way == "serial":
        result = Study(space, evaluator, strategy, budget).run()
    else:
        gpus = parse_gpus(args.gpus) if way == "process" else ()
        executor = create_executor(way.removesuffix("-cluster"), cores, threads=1, gpus=gpus)
        result = ParallelStudy(space, evaluator, strategy, budget, executor=executor).run()
    wall = time.perf_counter() - started
    done = [t for t in result.trials if t.measured and t.fidelity == FIDELITY]
    training = sum(t.info.get("seconds", 0.0) for t in done)  # a reused trial trains nothing
    workers = 1 if way == "serial" else cores
    return {
        "way": way,
        "threads_per_training": threads,
        "workers": workers,
        "trainings": len(done),
        "cells": sorted(space.format(t.arch) for t in done),
        "wall_s": round(wall, 2),
        "per_minute": round(60.0 * len(done) / wall, 2),
        "training_s": round(training, 2),
        "utilisation": round(training / (wall * workers), 3),
        "stop_reason": result.stop_reason,
    }


def passed(args: argparse.Namespace) -> list[str]:
    """The options a ``--child`` run needs, as arguments."""
    given = {"trainings": args.trainings, "cores": args.cores, "data": args.data}
    given |= {"device": args.device} | ({"data-dir": args.data_dir} if args.data_dir else {})
    return [part for key, value in given.items() for part in (f"--{key}", str(value))]


def in_namespace(argv: list[str]) -> dict:
    """This script's ``--child`` run in a network namespace with only loopback (for Ray)."""
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *argv]
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the namespaced run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    serial = [r for r in runs if r["way"] == "serial"]
    serial_rate = statistics.median(r["per_minute"] for r in serial)
    serial_training = statistics.median(r["training_s"] / r["trainings"] for r in serial)
    table = {}
    for way in dict.fromkeys(r["way"] for r in runs):
        mine = [r for r in runs if r["way"] == way]
        rate = statistics.median(r["per_minute"] for r in mine)
        training = statistics.median(r["training_s"] / r["trainings"] for r in mine)
        table[way] = {
            "repeats": len(mine),
            "trainings": mine[0]["trainings"],
            "median_wall_s": statistics.median(r["wall_s"] for r in mine),
            "median_per_minute": rate,
            "speedup_over_serial": round(rate / serial_rate, 2),
            "median_utilisation": statistics.median(r["utilisation"] for r in mine),
            "ceiling": round(mine[0]["workers"] * serial_training / training, 2),
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ways", default="serial,process,ray,ray-cluster")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--trainings", type=int, default=48)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--suffix", default="", help="written to parallel_training_SUFFIX.json")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--gpus", default="", help="GPUs of the process workers, e.g. 0 or 0,1")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one run, printed as JSON
    args = parser.parse_args()
    if not args.child and "serial" not in args.ways.split(","):
        parser.error("--ways must include serial: every speed-up is over the serial run")
    if args.child:
        print(json.dumps(run_way(args.child, args)))
        return
    runs: list[dict] = []
    for repeat in range(args.repeats):
        for way in args.ways.split(","):
            if way.startswith("ray"):
                run = in_namespace([sys.executable, __file__, "--child", way, *passed(args)])
            else:
                run = run_way(way, args)
            runs.append({**run, "repeat": repeat})
            print(
                f"{way:8} {run['trainings']} trainings in {run['wall_s']:.1f} s "
                f"({run['per_minute']:.1f}/min)",
                flush=True,
            )
    cells = {tuple(r["cells"]) for r in runs}
    report = {
        "data": args.data,
        "device": args.device,
        "gpus": args.gpus,
        "fidelity": str(FIDELITY),
        "budget": f"FLOPs of the first {args.trainings} cells random search (seed {SEED}) asks",
        "cores": args.cores,
        "machine_cpus": os.cpu_count(),
        "same_trainings_in_every_run": len(cells) == 1,
        "table": summarise(runs),
        "runs": [{k: v for k, v in r.items() if k != "cells"} for r in runs],
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"parallel_training{'_' + args.suffix if args.suffix else ''}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["table"], indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
