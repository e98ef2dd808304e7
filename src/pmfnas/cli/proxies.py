"""``pmfnas proxies``: compute resumable proxy tables and measure how well proxies rank."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pmfnas.cli.command import Typer
from pmfnas.cli.common import DataDirOption, LazyBar, app, load_benchmark, load_tabular, out
from pmfnas.cli.guards import STDOUT, json_option, output_file, write_json
from pmfnas.errors import ConfigError
from pmfnas.evaluators.proxy_table import TABLE_CELLS, TABLE_CHANNELS

if TYPE_CHECKING:
    from pmfnas.evaluators.proxy_table import ProxyTable
    from pmfnas.runs.proxies import Reference

proxies_app = Typer(no_args_is_help=True, help="Zero-cost proxies: tables and quality.")
app.add_typer(proxies_app, name="proxies")

DEFAULT_PROXIES = "nwot,synflow,mfnas_sum"

SpaceOption = Annotated[
    str, typer.Option(help="Search space: nb201, or darts (a seeded sample of genotypes).")
]
DataOption = Annotated[str, typer.Option(help="Dataset name or image-folder path.")]
ProxiesOption = Annotated[str, typer.Option(help="Comma-separated proxy names.")]
BatchOption = Annotated[int, typer.Option(min=1, help="Images per mini-batch.")]
ChannelsOption = Annotated[
    int,
    typer.Option(min=1, help="Network channels C (NB201: 16; grad_norm/snip/fisher need 16)."),
]
CellsOption = Annotated[
    int, typer.Option(min=1, help="Cells per stage N (NB201: 5; grad_norm/snip/fisher need 5).")
]
SeedOption = Annotated[int, typer.Option(help="Seed of batches, initialisation and sampling.")]
WorkersOption = Annotated[int, typer.Option(help="Worker processes.")]
ThreadsOption = Annotated[
    int | None,
    typer.Option(min=1, help="Torch threads per worker (default: by network size, 1 for small)."),
]
TableOption = Annotated[Path | None, typer.Option(help="Table file (default: in the cache dir).")]


def _names(proxies: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in proxies.split(",") if n.strip()))
    if not names:
        raise ConfigError("--proxies names no proxy")
    return names


PROXY_SPACES = ("nb201", "darts")
"""The spaces of proxy tables: NB201 (keyed by cell index, ranked against its tables) and DARTS
(keyed by position in a seeded sample, ranked against NAS-Bench-301's surrogate)."""


def _check_space(space: str) -> None:
    if space not in PROXY_SPACES:
        raise ConfigError(f"unknown space {space!r} for proxies (known: {', '.join(PROXY_SPACES)})")


def _check_workers(workers: int) -> int:
    if not 1 <= workers <= (os.cpu_count() or 1) * 4:
        raise ConfigError(f"--workers must be a positive number of processes, got {workers}")
    return workers


def _fill(
    space: str,
    data: str,
    names: tuple[str, ...],
    indices: list[int],
    data_dir: Path | None,
    table: Path | None,
    batch_size: int,
    channels: int,
    cells: int,
    seed: int,
    workers: int,
    threads: int | None,
) -> ProxyTable:
    """Complete the proxy table of these settings for ``indices``, with a progress bar."""
    from pmfnas.runs.proxies import compute_proxy_table

    with LazyBar("proxies", " archs") as bar:
        return compute_proxy_table(
            data, names, indices, space=space, data_dir=data_dir, table=table,
            batch_size=batch_size,
            channels=channels, cells_per_stage=cells, seed=seed,
            workers=_check_workers(workers), threads=threads, progress=bar.update,
        )  # fmt: skip


@proxies_app.command("compute", old_names={"--width": "--channels"})
def compute(
    space: SpaceOption = "nb201",
    data: DataOption = "cifar10",
    proxies: ProxiesOption = DEFAULT_PROXIES,
    archs: Annotated[
        str,
        typer.Option(help="'all', a count N (seeded sample) or a file; darts: a count only."),
    ] = "all",
    batch_size: BatchOption = 64,
    channels: ChannelsOption = TABLE_CHANNELS,
    cells: CellsOption = TABLE_CELLS,
    seed: SeedOption = 0,
    workers: WorkersOption = 1,
    threads: ThreadsOption = None,
    table: TableOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Compute proxy scores into a resumable table (an interrupted run continues where it stopped)."""
    from pmfnas.runs.proxies import select_archs

    _check_space(space)
    names = _names(proxies)
    indices = select_archs(archs, seed, space)
    result = _fill(
        space, data, names, indices, data_dir, table, batch_size, channels, cells, seed, workers,
        threads,
    )  # fmt: skip
    out.print(f"{len(indices)} architectures × {len(names)} proxies in {result.path}")


def _reference(
    space: str, data: str, indices: list[int], seed: int, data_dir: Path | None
) -> tuple[str, Reference]:
    """What the sample is (for the title) and the accuracies it is ranked against: NB201's
    tables for its cells, NAS-Bench-301's surrogate for DARTS genotypes."""
    from pmfnas.runs.proxies import (
        nb201_reference,
        nb301_reference,
        require_nb201_dataset,
        require_nb301_dataset,
        table_archs,
    )
    from pmfnas.spaces import create_space

    if space == "darts":
        require_nb301_dataset(data)
        archs = table_archs(create_space(space), indices, seed)
        surrogate = load_tabular("nb301", data_dir)
        return f"DARTS genotypes (seed-{seed} sample)", nb301_reference(surrogate, data, archs)
    require_nb201_dataset(data)
    return "NB201 cells", nb201_reference(load_benchmark(data_dir), data, indices)


@proxies_app.command("score", old_names={"--width": "--channels"})
def score(
    space: SpaceOption = "nb201",
    data: DataOption = "cifar10",
    proxies: ProxiesOption = DEFAULT_PROXIES,
    sample: Annotated[int, typer.Option(help="Random architectures to score.")] = 200,
    batch_size: BatchOption = 64,
    channels: ChannelsOption = TABLE_CHANNELS,
    cells: CellsOption = TABLE_CELLS,
    seed: SeedOption = 0,
    workers: WorkersOption = 1,
    threads: ThreadsOption = None,
    table: TableOption = None,
    data_dir: DataDirOption = None,
    json_out: Annotated[Path | None, json_option("the results")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a score-vs-accuracy PNG.", callback=output_file)
    ] = None,
) -> None:
    """Rank correlation of proxies with the benchmark's accuracy on a random sample: NB201's
    200-epoch test accuracy, or for darts NAS-Bench-301's surrogate's predicted 98-epoch
    validation accuracy (with the free params and flops of the evaluation network)."""
    from pmfnas.report.proxy_quality import scatter_plot
    from pmfnas.runs.proxies import score_proxies, select_archs, table_scores

    _check_space(space)
    names = _names(proxies)
    indices = select_archs(str(sample), seed, space)
    what, reference = _reference(space, data, indices, seed, data_dir)
    filled = _fill(
        space, data, names, indices, data_dir, table, batch_size, channels, cells, seed, workers,
        threads,
    )  # fmt: skip
    qualities = score_proxies(filled, names, indices, reference)
    caveat = f" ({reference.caveat})" if reference.caveat else ""
    title = f"proxies on {data}: {len(indices)} {what} vs {reference.label}{caveat}"
    shown = Table(title=title)
    for column in ("proxy", "Spearman ρ", "Kendall τ", "top-10% hits", "median s/arch"):
        shown.add_column(column, justify="left" if column == "proxy" else "right")
    for q in qualities:
        shown.add_row(
            q.proxy, f"{q.spearman:.3f}", f"{q.kendall:.3f}", f"{q.top_hit_rate:.2f}",
            f"{q.median_seconds:.3f}",
        )  # fmt: skip
    if json_out != STDOUT:
        out.print(shown)
    if json_out:
        report = {"space": space, "data": data, "settings": filled.settings,
                  "sample": len(indices), "seed": seed, "reference": reference.label + caveat,
                  "proxies": [q.as_dict() for q in qualities]}  # fmt: skip
        write_json(json_out, report)
    if plot:
        scores = {name: table_scores(filled, name, indices)[0] for name in names}
        scatter_plot(plot, scores, reference.accuracy, f"{reference.label} (%)")


@proxies_app.command("export")
def export(
    table: Annotated[
        Path, typer.Argument(help="A proxy table filled by 'pmfnas proxies compute'.")
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="The npz file to write.", callback=output_file)
    ],
    proxies: Annotated[
        str | None, typer.Option(help="Comma-separated proxies (default: all in the table).")
    ] = None,
) -> None:
    """Write a complete NB201 proxy table as the npz file the tabular benchmark serves."""
    from pmfnas.evaluators.proxy_table import ProxyTable
    from pmfnas.runs.proxies import export_proxy_arrays

    with ProxyTable.open(table) as filled:
        names = _names(proxies) if proxies else tuple(filled.proxies())
        if not names:
            raise ConfigError(f"{table} holds no proxy scores")
        export_proxy_arrays(filled, names, out_file)
    out.print(f"{len(names)} proxies ({', '.join(names)}) of {table} in {out_file}")
