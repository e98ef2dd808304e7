"""What every command shares: the typer app, consoles, progress bars and field printing."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pmfnas.cli.command import Typer
from pmfnas.tables.nb201 import NB201Benchmark

if TYPE_CHECKING:
    from pmfnas.evaluators.nb301 import SampleProxies
    from pmfnas.tables.nb301 import NB301Surrogate

app = Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Progressive multi-fidelity neural architecture search under a resource budget.",
)

PIPED_WIDTH = 160
"""Width of tables written to a pipe or file, where rich would otherwise assume 80 columns and
cut the numbers of a wide table (``COLUMNS`` still wins)."""

out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH)
err = Console(stderr=True)

DataDirOption = Annotated[Path | None, typer.Option(help="Data directory (default: $PMFNAS_DATA).")]
ProxyTableOption = Annotated[
    Path | None,
    typer.Option(
        help="nb301: a DARTS proxy table (pmfnas proxies compute --space darts) whose measured "
        "proxies are the low fidelity, PMF ranking its genotypes."
    ),
]


def nb201_source(data_dir: Path | None) -> Path | None:
    """The NB201 folder under an explicit data dir; ``None`` lets the loader use PMFNAS_DATA."""
    return data_dir / "nb201" if data_dir else None


def load_benchmark(data_dir: Path | None) -> NB201Benchmark:
    """The benchmark, with a progress bar while a first load builds its cache."""
    with LazyBar("reading benchmark", " files") as bar:
        return NB201Benchmark.load(nb201_source(data_dir), progress=bar.update)


def load_tabular(name: str, data_dir: Path | None) -> NB201Benchmark | NB301Surrogate:
    """The benchmark called ``name``: NB201's tables or NAS-Bench-301's surrogate (under
    ``darts/yahpo_nb301`` of the data folder)."""
    if name == "nb301":
        from pmfnas.tables.nb301 import NB301Surrogate, surrogate_folder

        return NB301Surrogate(surrogate_folder(data_dir))
    return load_benchmark(data_dir)


def load_proxy_table(path: Path | None, benchmark: str | None) -> SampleProxies | None:
    """The scores of the DARTS proxy table at ``path`` for an nb301 search (``None``: none)."""
    if path is None:
        return None
    from pmfnas.errors import ConfigError
    from pmfnas.evaluators.nb301 import sample_proxies
    from pmfnas.evaluators.proxy_table import ProxyTable

    if benchmark != "nb301":
        raise ConfigError("--proxy-table is the low fidelity of --benchmark nb301 only")
    with ProxyTable.open(path) as table:
        return sample_proxies(table)


class LazyBar:
    """A rich progress bar on stderr that appears only once work is reported, and only on a
    terminal.

    Starting it lazily keeps error output to the single line of ``main``, and quick work (a
    cached benchmark) silent; a stderr that goes to a file or pipe would only receive its blank
    lines.
    """

    def __init__(self, label: str, unit: str = "", number: str = ".0f") -> None:
        """``number`` formats the work done and its total (``.3g`` for FLOPs)."""
        self._bar = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(bar_width=24),
            TextColumn(f"{{task.completed:>10{number}}} / {{task.total:{number}}}{unit}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}", markup=False),
            console=err,
            transient=True,
        )
        self._task = self._bar.add_task(label, total=None, note="")
        self._started = False
        self.done = 0.0
        """The work done when last reported (what an interrupt message can say was reached)."""

    def update(self, done: float, total: float) -> None:
        self.done = done
        self._bar.update(self._task, completed=done, total=total)
        if not self._started and err.is_terminal:  # a log gets no bar, only blank lines
            self._bar.start()
            self._started = True

    def note(self, text: str) -> None:
        """Show ``text`` after the bar, once it shows: the work in progress."""
        self._bar.update(self._task, note=text)

    def __enter__(self) -> LazyBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self._started:
            self._bar.stop()


def print_fields(title: str, rows: dict[str, str]) -> None:
    """Aligned ``field  value`` lines, never wrapped or cut, so values can be copied whole."""
    out.print(title, style="bold")
    width = max(map(len, rows))
    for key, value in rows.items():
        out.print(f"  {key:<{width}}  {value}", soft_wrap=True, markup=False, highlight=False)


def final_row(summary: dict[str, Any]) -> dict[str, str]:
    """A surrogate search's returned genotype after its full training, where the search returned
    it at a proxy or a short training (nothing otherwise)."""
    full = summary.get("final_fidelity")
    if full is None or summary["fidelity"] == full:
        return {}
    return {f"validation accuracy ({full}, reported only)": fmt(summary["final_val_acc"])}


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for people; ``n/a`` for a missing one."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"
