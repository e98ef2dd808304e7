"""The ``pmfnas`` command line: thin wrappers that parse options, call the API and print."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pmfnas import __version__
from pmfnas.errors import ConfigError, NotAvailableError, PmfnasError
from pmfnas.units import parse_duration, parse_options

if TYPE_CHECKING:
    pass

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Progressive multi-fidelity neural architecture search under a resource budget.",
)
arch_app = typer.Typer(no_args_is_help=True, help="Look at one architecture.")
app.add_typer(arch_app, name="arch")

out = Console()
err = Console(stderr=True)

BENCHMARKS = ("nb201",)


def _data_source(data_dir: Path | None) -> Path | None:
    """The NB201 folder under an explicit data dir; ``None`` lets the loader use PMFNAS_DATA."""
    return data_dir / "nb201" if data_dir else None


def _load_benchmark(data_dir: Path | None):
    from pmfnas.benchmarks.nb201 import NB201Benchmark

    return NB201Benchmark.load(_data_source(data_dir))


class LazyBar:
    """A rich progress bar on stderr that appears only once work is reported.

    Starting it lazily keeps error output to the single line of :func:`main`, and quick work
    (a cached benchmark) silent.
    """

    def __init__(self, label: str, unit: str = "") -> None:
        self._bar = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            TextColumn(f"{{task.completed:>10.0f}} / {{task.total:.0f}}{unit}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self._task = self._bar.add_task(label, total=None)
        self._started = False

    def update(self, done: float, total: float) -> None:
        self._bar.update(self._task, completed=done, total=total)
        if not self._started:
            self._bar.start()
            self._started = True

    def __enter__(self) -> LazyBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self._started:
            self._bar.stop()


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
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: $PMFNAS_DATA).")
    ] = None,
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
    bench = _load_benchmark(data_dir)
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
    _print_summary(summary)
    if json_out:
        json_out.write_text(json.dumps(summary, indent=2) + "\n")


def _print_summary(summary: dict[str, Any]) -> None:
    rows = {
        "best architecture": summary["arch"],
        "NATS index": str(summary["index"]),
        f"signal ({summary['fidelity']})": f"{summary['val_acc']:.2f}",
        "test accuracy (200 epochs)": _fmt(summary["test_acc"]),
        "simulated cost (s)": f"{summary['cost']:.0f} of {summary['budget']:.0f}",
        "trials per fidelity": ", ".join(f"{k}: {v}" for k, v in summary["trials"].items()),
        "stopped because": summary["stop_reason"],
    }
    _print_fields(f"{summary['strategy']} on {summary['dataset']}, seed {summary['seed']}", rows)


def _print_fields(title: str, rows: dict[str, str]) -> None:
    """Aligned ``field  value`` lines, never wrapped or cut, so values can be copied whole."""
    out.print(title, style="bold")
    width = max(map(len, rows))
    for key, value in rows.items():
        out.print(f"  {key:<{width}}  {value}", soft_wrap=True, markup=False, highlight=False)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


@arch_app.command("info")
def arch_info(
    arch: Annotated[str, typer.Argument(help="NB201 architecture string or NATS index.")],
    dataset: Annotated[str, typer.Option(help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: $PMFNAS_DATA).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print an architecture's index, string, size and benchmark numbers."""
    from pmfnas.api import describe_arch

    info = describe_arch(arch, dataset, _data_source(data_dir))
    if json_out:
        out.print_json(json.dumps(info))
        return
    rows = {}
    for key, value in info.items():
        if key == "latency_ms":
            value = ", ".join(f"{d} {v:.3g}" for d, v in value.items()) or "n/a"
        elif isinstance(value, float) or value is None:
            value = _fmt(value, 4 if key.startswith(("params", "flops")) else 2)
        rows[key] = str(value)
    _print_fields(f"NB201 #{info['index']} on {dataset}", rows)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"pmfnas {__version__}")
        raise typer.Exit()


def _fail(message: str) -> None:
    """One plain line on stderr (no wrapping, no markup), then exit code 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2, never a traceback."""
    try:
        app(args=argv, standalone_mode=False)
    except (PmfnasError, NotAvailableError) as exc:
        _fail(str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors of the command line itself
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message)
