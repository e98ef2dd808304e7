"""``pmfnas search``: search by real training (default: the embedded digits) or a tabular benchmark."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from pmfnas.cli.common import (
    DataDirOption,
    LazyBar,
    ProxyTableOption,
    app,
    final_row,
    fmt,
    load_proxy_table,
    load_tabular,
    out,
    print_fields,
)
from pmfnas.cli.guards import STDOUT, json_option, on_interrupt, output_folder, write_json
from pmfnas.cli.oneshot import is_oneshot, oneshot_search, print_oneshot_summary
from pmfnas.cli.trial_log import QuietOption, SearchLog, VerboseOption, verbosity
from pmfnas.errors import ConfigError, Interrupted
from pmfnas.study import INTERRUPTED, MAX_FAILURES_IN_A_ROW
from pmfnas.units import format_amount, parse_budget, parse_options

BENCHMARKS = ("nb201", "nb301")
ProtocolOption = Annotated[
    str | None,
    typer.Option(
        help="Tabular 12-epoch signal: default (validation accuracy) or peers (test accuracy, "
        "the signal the peers in docs/nb201.md were first measured with)."
    ),
]
"""``--protocol`` of the tabular search and of ``pmfnas bench``."""
TRAINING_BUDGET = "3m"


@app.command()
def search(
    data: Annotated[
        str | None,
        typer.Option(help="Train for real on this dataset or image folder (default: digits)."),
    ] = None,
    benchmark: Annotated[
        str | None,
        typer.Option(
            help="Search a benchmark instead: nb201 (tables) or nb301 (DARTS space, surrogate)."
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="The benchmark's dataset: cifar10, cifar100, ImageNet16-120."),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(help="Search space: nb201 (default) or darts (nb301 searches darts)."),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="Search strategy: pmf, mfnas, sh, hyperband, rea, random; or a one-shot "
            "method: gicso, darts, gdas, drnas, rsps (pmfnas strategies lists them)."
        ),
    ] = "pmf",
    profile: Annotated[
        str | None,
        typer.Option(help="One-shot methods: cpu (default, minutes on a CPU) or reference."),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="One-shot methods: supernet epochs (default: the profile's)."),
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            help="What to spend: seconds (20000, 30m, 5.5h), simulated on a benchmark "
            "(default: the dataset's NATS budget), wall-clock when training "
            f"(default {TRAINING_BUDGET}); or, when training, compute (5e14flops, 500Tflops): "
            "the same trials on any machine."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="Strategy parameter (repeatable; pmfnas strategies lists them).",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Validation split when training: holdout[:S], nb201, train-valid.")
    ] = "holdout",
    device: Annotated[str, typer.Option(help="cpu or cuda when training.")] = "cpu",
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Torch threads when training (default: by network size, 1 for small ones; "
            "part of the study's settings).",
        ),
    ] = None,
    channels: Annotated[
        int | None, typer.Option(help="Network width C when training (default: planned).")
    ] = None,
    cells: Annotated[
        int | None, typer.Option(help="Cells per stage N when training (default: planned).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size when training (default: planned).")
    ] = None,
    fraction: Annotated[
        float | None,
        typer.Option(help="Share of the training images when training (default: planned)."),
    ] = None,
    resolution: Annotated[
        int | None, typer.Option(help="Image side in pixels when training (default: planned).")
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Folder for per-epoch training checkpoints (crash-safe resume).",
            callback=output_folder,
        ),
    ] = None,
    storage: Annotated[
        Path | None, typer.Option(help="SQLite file; an interrupted study resumes from it.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name inside --storage.")] = None,
    reuse: Annotated[
        bool, typer.Option(help="Serve repeated requests from earlier trials at no cost.")
    ] = True,
    retries: Annotated[
        int, typer.Option(min=0, help="Times a failed evaluation is run again before it counts.")
    ] = 1,
    max_failures: Annotated[
        int, typer.Option(min=1, help="Evaluations failed in a row that stop the search.")
    ] = MAX_FAILURES_IN_A_ROW,
    protocol: ProtocolOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Evaluations at once: simulated workers on a tabular benchmark's clock, else "
            "worker processes (default 1; with --executor process the cores, with ray the "
            "cluster's CPUs).",
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="Where trainings run: serial, process (local worker processes) or ray "
            "(pip install 'pmfnas[ray]').",
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(help="GPUs for the workers, e.g. 0,1 (one per worker in turn)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="A running Ray cluster to use (auto: the one on this machine)."),
    ] = None,
    gpu_share: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Share of a GPU per Ray trial (0.5: two per GPU)."),
    ] = None,
    proxy_table: ProxyTableOption = None,
    data_dir: DataDirOption = None,
    json_out: Annotated[Path | None, json_option("the summary")] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Search for the best architecture and print it with its test accuracy.

    With no data option PMF-NAS trains small NB201 networks on scikit-learn's digits for a few
    minutes; --benchmark/--dataset search the NAS-Bench-201 tables on a simulated clock. Each
    finished trial is a line on stderr (a tabular search's proxy scorings only with --verbose).
    """
    from pmfnas.runs.profiles import DEFAULT_DATA, search_evaluator
    from pmfnas.runs.search import run_search, run_training_search
    from pmfnas.spaces import create_space

    tabular = benchmark is not None or dataset is not None
    benchmark_space = "darts" if benchmark == "nb301" else "nb201"
    if tabular and space not in (None, benchmark_space):
        raise ConfigError(
            f"--benchmark {benchmark or 'nb201'} searches {benchmark_space}: drop --space"
        )
    space_name = space or benchmark_space
    if protocol is not None and not tabular:
        raise ConfigError("--protocol picks a tabular benchmark's signal: add --benchmark nb201")
    if tabular and data is not None:
        raise ConfigError("--data trains for real; --benchmark/--dataset search a table: pick one")
    if tabular and (benchmark or "nb201") not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r} (known: {', '.join(BENCHMARKS)})")
    if budget is None and tabular:  # the dataset's own NATS budget
        limit: float | None = None
        kind = "seconds"
    else:
        limit, kind = parse_budget(budget or TRAINING_BUDGET)
    if tabular and kind == "flops":
        raise ConfigError("a tabular benchmark spends simulated seconds: give --budget in s/m/h")
    params = parse_options(option or [])
    level = verbosity(quiet, verbose)
    knobs = dict(  # the network and data a training searches with (None: the setting's own)
        channels=channels,
        cells_per_stage=cells,
        batch_size=batch_size,
        fraction=fraction,
        resolution=resolution,
    )
    if is_oneshot(strategy):
        if tabular:
            raise ConfigError(f"{strategy} trains a supernet: give --data, not --benchmark")
        summary = oneshot_search(
            strategy,
            budget=budget,
            stopped=lambda: f"search stopped; {_kept(storage)}",
            announce=announce if json_out != STDOUT else None,
            data=data or DEFAULT_DATA,
            space=space_name,
            profile=profile or "cpu",
            params=params,
            seed=seed,
            epochs=epochs,
            device=device,
            threads=threads,
            data_dir=data_dir,
            storage=storage,
            study=study,
            checkpoints=checkpoints,
            **knobs,
        )
        if json_out != STDOUT:
            print_oneshot_summary(summary)
        if json_out:
            write_json(json_out, summary)
        return
    if profile is not None or epochs is not None:
        raise ConfigError("--profile and --epochs are for one-shot methods (gicso, darts ...)")
    if tabular and (executor not in (None, "simulated") or gpus or address or gpu_share):
        raise ConfigError(
            "a tabular benchmark is looked up, not trained: --workers simulates its workers; "
            "drop --executor, --gpus, --address and --gpu-share"
        )
    parallel = parallel_training(workers, executor, threads, gpus, address, gpu_share)
    common: dict[str, Any] = dict(
        strategy=strategy,
        budget=limit,
        seed=seed,
        params=params,
        storage=storage,
        study=study,
        retries=retries,
        max_failures=max_failures,
    )
    proxies = load_proxy_table(proxy_table, benchmark)
    if tabular:
        bench = load_tabular(benchmark or "nb201", data_dir)
        searched = create_space(space_name)
        with LazyBar("search", " s") as bar, on_interrupt(lambda: _no_result(storage)):
            summary = run_search(
                bench,
                dataset=dataset or "cifar10",
                reuse=reuse,
                protocol=protocol or "default",
                workers=workers or 1,
                proxies=proxies,
                progress=bar.update,
                watcher=SearchLog(bar, searched, "simulated", level),
                **common,
            )
    else:
        unit = "flops" if kind == "flops" else "wall"
        flops = unit == "flops"
        bar = LazyBar(
            "search (compute)" if flops else "search (wall clock)",
            " FLOPs" if flops else " s",
            ".3g" if flops else ".0f",
        )
        searched = create_space(space_name)
        log = SearchLog(bar, searched, unit, level)
        evaluator = search_evaluator(
            data or DEFAULT_DATA,
            budget=limit,
            budget_unit=unit,
            data_dir=data_dir,
            split=split,
            device=device,
            seed=seed,
            checkpoint_dir=checkpoints,
            threads=parallel["threads"],
            storage=storage,
            study=study,
            strategy=strategy,
            **knobs,
            space=searched,
            watcher=log,
        )
        plan = announce if json_out != STDOUT else None  # with --json -, stdout is the JSON alone
        with bar, on_interrupt(lambda: _no_result(storage)):
            summary = run_training_search(
                evaluator,
                reuse=reuse,
                progress=bar.update,
                announce=plan,
                watcher=log,
                **parallel,
                **common,
            )
    if json_out != STDOUT:
        print_summary(summary)
    if json_out:
        write_json(json_out, summary)
    if summary["stop_reason"] == INTERRUPTED:
        raise Interrupted(f"search stopped; above is the best it had found; {_kept(storage)}")


def parallel_training(
    workers: int | None,
    executor: str | None,
    threads: int | None,
    gpus: str | None,
    address: str | None,
    gpu_share: float | None,
) -> dict[str, Any]:
    """The workers a training search runs on: one in this process unless several workers or
    an executor are asked for (``process`` by default, the cores' worth, sharing them out)."""
    from pmfnas.executors import check_executor, training_executor
    from pmfnas.executors.process import threads_per_worker

    executor = training_executor(executor, workers)
    known = ("serial", "process", "ray")
    check_executor(executor or "serial", address=address, gpu_share=gpu_share, known=known)
    if executor == "process" and workers is None:
        workers = os.cpu_count() or 1
    if executor == "process" and threads is None:  # what the workers run on, and the study says
        threads = threads_per_worker(workers or 1)
    return dict(
        workers=workers if executor == "ray" else workers or 1,
        executor=executor,
        threads=threads,
        gpus=parse_gpus(gpus),
        address=address,
        gpu_share=gpu_share,
    )


def parse_gpus(text: str | None) -> tuple[int, ...]:
    """``0,1`` as GPU indices."""
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--gpus takes GPU indices such as 0,1, got {text!r}") from None


def _kept(storage: Path | None) -> str:
    """Whether a rerun of an interrupted search resumes it."""
    if storage is None:
        return "nothing was stored (--storage makes a search resumable)"
    return f"rerun the same command to resume from {storage}"


def _no_result(storage: Path | None) -> str:
    return f"search stopped before its first result; {_kept(storage)}"


def announce(line: str) -> None:
    """Say what a search is about to do, before its progress bar."""
    out.print(line, markup=False, highlight=False, soft_wrap=True)


COST_LABELS = {"simulated": "simulated cost", "wall": "wall time", "flops": "compute"}


def print_summary(summary: dict[str, Any]) -> None:
    tabular = summary["benchmark"] is not None
    unit = summary["budget_unit"]
    surrogate = summary["benchmark"] == "nb301"
    rows = {
        "best architecture": summary["arch"],
        "NATS index": str(summary["index"]),
        f"validation accuracy ({summary['fidelity']})": fmt(summary["val_acc"]),
        **final_row(summary),
        "test accuracy (200 epochs)" if tabular else "test accuracy": fmt(summary["test_acc"]),
        COST_LABELS[unit]: (
            f"{format_amount(summary['cost'], unit)} of {format_amount(summary['budget'], unit)}"
        ),
        "trials per fidelity": ", ".join(f"{k}: {v}" for k, v in summary["trials"].items())
        + (f" (and {summary['stopped']} stopped at the budget)" if summary["stopped"] else ""),
        "stopped because": summary["stop_reason"],
        "strategy's own time": f"{summary['strategy_s']:.2f} s of {summary['wall_s']:.1f} s wall",
    }
    if surrogate:  # no index, and no test accuracy: the surrogate predicts validation only
        del rows["NATS index"], rows["test accuracy (200 epochs)"]
        rows = {"benchmark": "NAS-Bench-301 surrogate (predicted validation accuracy)", **rows}
    where = summary["dataset"] if tabular else f"{summary['data']} (real training)"
    where = "nb301 (cifar10)" if surrogate else where
    title = f"{summary['strategy']} on {where}, seed {summary['seed']}"
    workers, executor = summary.get("workers", 1), summary.get("executor", "simulated")
    if workers != 1 and executor != "serial":  # None: as many as a Ray cluster holds
        where = "simulated workers" if tabular else f"workers ({executor})"
        title += f", {workers or 'all'} {where}"
    if summary["stop_reason"] == INTERRUPTED:
        title += " (interrupted: the best so far)"
    print_fields(title, rows)
