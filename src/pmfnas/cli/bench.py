"""``pmfnas bench``: compare strategies over many seeds on NB201 (the protocol of docs/nb201.md)
or on NAS-Bench-301's surrogate (docs/darts.md)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pmfnas.cli.common import (
    DataDirOption,
    LazyBar,
    ProxyTableOption,
    app,
    fmt,
    load_proxy_table,
    load_tabular,
    out,
)
from pmfnas.cli.guards import (
    STDOUT,
    json_option,
    on_interrupt,
    output_file,
    output_folder,
    write_json,
)
from pmfnas.cli.search import BENCHMARKS, ProtocolOption
from pmfnas.errors import ConfigError
from pmfnas.units import parse_duration

if TYPE_CHECKING:
    from pmfnas.runs.records import BenchResult


@app.command()
def bench(
    benchmark: Annotated[
        str, typer.Option(help="Benchmark to search: nb201 (tables) or nb301 (surrogate).")
    ] = "nb201",
    dataset: Annotated[str, typer.Option(help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies to compare.")
    ] = "pmf,rea,random",
    seeds: Annotated[str, typer.Option(help="A count (30), a range (0-29) or a list (0,3,5).")] = (
        "0-29"
    ),
    budget: Annotated[
        str | None,
        typer.Option(help="Simulated seconds per search (default: the dataset's NATS budget)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="STRATEGY.KEY=VALUE",
            help="Strategy parameter (repeatable; pmfnas strategies lists them).",
        ),
    ] = None,
    storage: Annotated[
        Path | None, typer.Option(help="SQLite file; runs already in it are replayed, not rerun.")
    ] = None,
    reuse: Annotated[
        bool, typer.Option(help="Serve repeated requests from earlier trials at no cost.")
    ] = True,
    protocol: ProtocolOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Runs at once (default: one per CPU).")
    ] = None,
    executor: Annotated[
        str,
        typer.Option(help="Where runs go: process (local processes) or ray (pmfnas[ray])."),
    ] = "process",
    address: Annotated[
        str | None, typer.Option(help="A running Ray cluster to use (auto: this machine's).")
    ] = None,
    proxy_table: ProxyTableOption = None,
    data_dir: DataDirOption = None,
    json_out: Annotated[Path | None, json_option("the summary and every run")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the anytime plot as PNG.", callback=output_file)
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Folder for an HTML report comparing the strategies.", callback=output_folder
        ),
    ] = None,
) -> None:
    """Run each strategy over many seeds and compare the architectures they return."""
    from pmfnas.cli.options import parse_seeds, parse_strategy_options
    from pmfnas.executors import check_executor
    from pmfnas.runs.bench import run_bench

    check_executor(executor, address=address, known=("process", "ray"))
    if benchmark not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r} (known: {', '.join(BENCHMARKS)})")
    names = [n.strip() for n in strategies.split(",") if n.strip()]
    seed_list = parse_seeds(seeds)
    params = parse_strategy_options(option or [], names)
    limit = parse_duration(budget) if budget is not None else None
    source = load_tabular(benchmark, data_dir)
    proxies = load_proxy_table(proxy_table, benchmark)
    from pmfnas.report.bench_report import report_storage, write_bench_report

    # The report reads each strategy's funnel back from the stored runs.
    with report_storage(storage) if report else nullcontext(storage) as db:
        with LazyBar("bench", " runs") as bar, on_interrupt(lambda: _stopped(bar.done, storage)):
            result = run_bench(
                source,
                dataset=dataset,
                strategies=names,
                seeds=seed_list,
                budget=limit,
                params=params,
                storage=db,
                reuse=reuse,
                protocol=protocol or "default",
                workers=workers,
                executor=executor,
                address=address,
                proxies=proxies,
                progress=bar.update,
            )
        if report:
            page = write_bench_report(result, db, report)
    if json_out != STDOUT:
        print_table(result)
    if json_out:
        write_json(json_out, result.to_json())
    if plot:
        from pmfnas.report.anytime import plot_anytime

        plot_anytime(result, plot)
    if report and json_out != STDOUT:
        out.print(f"wrote {page}", markup=False, highlight=False, soft_wrap=True)


def _stopped(done: float, storage: Path | None) -> str:
    """How far an interrupted bench got, and whether a rerun can replay it."""
    where = f"bench stopped after {done:.0f} finished runs"
    if storage is None:
        return f"{where}; nothing was stored (--storage makes a bench resumable)"
    return f"{where}; rerun the same command to replay them from {storage} and continue"


def print_table(result: BenchResult) -> None:
    """One row per strategy; the caption states the protocol and how repeats were charged."""
    from pmfnas.runs.records import ANYTIME_FRACTIONS

    seeds = len(result.runs) // len(result.strategies)
    table = Table(
        title=f"{result.benchmark} {result.dataset}, budget {result.budget:g} s, {seeds} seeds",
        caption=_caption(result),
    )
    table.add_column("strategy", no_wrap=True)
    for column in (f"{result.final_label} (mean ± std)", "regret", "cost (s)"):
        table.add_column(column, justify="right", no_wrap=True)
    for f in ANYTIME_FRACTIONS:
        table.add_column(f"@{f:.0%}", justify="right", no_wrap=True)
    for row in result.summary():
        test = row[result.final_key]
        table.add_row(
            row["strategy"],
            f"{fmt(test['mean'])} ± {fmt(test['std'])}",
            fmt(row["regret"]),
            f"{row['cost']:.0f}",
            *(fmt(row["anytime"][str(f)]["mean"]) for f in ANYTIME_FRACTIONS),
        )
    out.print(table)


def _caption(result: BenchResult) -> str:
    """The protocol, what the returned architectures are compared by, and how repeats paid."""
    from pmfnas.runs.records import REUSE_NOTES, SIGNAL12_NOTES

    if result.benchmark == "nb301":
        where = "NAS-Bench-301 surrogate (docs/darts.md), 12/98-epoch predicted validation signals"
    else:
        where = f"NB201 protocol (docs/nb201.md), {SIGNAL12_NOTES[result.protocol]} signal"
    best = "" if result.space_best is None else f" (best in the space: {result.space_best:.2f})"
    return f"{where}; {result.final_note} of the returned architecture{best}; {REUSE_NOTES[result.reuse]}."
