"""``pmfnas search``: search a tabular benchmark with a strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pmfnas.cli.common import DataDirOption, LazyBar, app, fmt, load_benchmark, print_fields
from pmfnas.errors import ConfigError
from pmfnas.units import parse_duration, parse_options

BENCHMARKS = ("nb201",)


@app.command()
def search(
    benchmark: Annotated[str, typer.Option(help="Tabular benchmark to search.")] = "nb201",
    dataset: Annotated[str, typer.Option(help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    strategy: Annotated[str, typer.Option(help="Search strategy (random, rea).")] = "rea",
    budget: Annotated[
        str, typer.Option(help="Simulated seconds to spend, e.g. 20000, 5.5h, 30m.")
    ] = "20000",
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Strategy parameter KEY=VALUE (repeatable)."),
    ] = None,
    storage: Annotated[
        Path | None, typer.Option(help="SQLite file; an interrupted study resumes from it.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name inside --storage.")] = None,
    reuse: Annotated[
        bool, typer.Option(help="Serve repeated requests from earlier trials at no cost.")
    ] = True,
    data_dir: DataDirOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON.")
    ] = None,
) -> None:
    """Search the benchmark with a strategy and print the best architecture found."""
    from pmfnas.api import run_search

    if benchmark not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r} (known: {', '.join(BENCHMARKS)})")
    limit = parse_duration(budget)
    params = parse_options(option or [])
    bench = load_benchmark(data_dir)
    with LazyBar("search", " s") as bar:
        summary = run_search(
            bench,
            dataset=dataset,
            strategy=strategy,
            budget=limit,
            seed=seed,
            params=params,
            storage=storage,
            study=study,
            reuse=reuse,
            progress=bar.update,
        )
    print_summary(summary)
    if json_out:
        json_out.write_text(json.dumps(summary, indent=2) + "\n")


def print_summary(summary: dict[str, Any]) -> None:
    rows = {
        "best architecture": summary["arch"],
        "NATS index": str(summary["index"]),
        f"signal ({summary['fidelity']})": f"{summary['val_acc']:.2f}",
        "test accuracy (200 epochs)": fmt(summary["test_acc"]),
        "simulated cost (s)": f"{summary['cost']:.0f} of {summary['budget']:.0f}",
        "trials per fidelity": ", ".join(f"{k}: {v}" for k, v in summary["trials"].items()),
        "stopped because": summary["stop_reason"],
    }
    print_fields(f"{summary['strategy']} on {summary['dataset']}, seed {summary['seed']}", rows)
