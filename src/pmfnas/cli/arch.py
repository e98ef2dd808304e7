"""``pmfnas arch``: look at one architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pmfnas.cli.command import Typer
from pmfnas.cli.common import DataDirOption, app, fmt, nb201_source, out, print_fields
from pmfnas.cli.guards import STDOUT, json_option, write_json
from pmfnas.errors import ConfigError
from pmfnas.tables.nb301 import surrogate_folder

arch_app = Typer(no_args_is_help=True, help="Look at one architecture.")
app.add_typer(arch_app, name="arch")

SIZES = ("params_m", "params_with_auxiliary_m", "flops_m")
"""Counts in millions, exact to the unit: their JSON keeps every digit."""
DECIMALS = 4
"""Decimals of the benchmark's numbers in JSON: float32 means over a few seeds, whose further
digits are noise."""


@arch_app.command("info", old_flags={"--json": str(STDOUT)})
def arch_info(
    arch: Annotated[
        str,
        typer.Argument(
            help="NB201 architecture string or NATS index; with --space darts a DARTS genotype "
            "(Genotype(...) text) or a published name such as DARTS_V2."
        ),
    ],
    space: Annotated[str, typer.Option(help="nb201 or darts.")] = "nb201",
    dataset: Annotated[
        str, typer.Option(help="cifar10, cifar100 or ImageNet16-120 (darts: cifar10).")
    ] = "cifar10",
    data_dir: DataDirOption = None,
    json_out: Annotated[Path | None, json_option("the description")] = None,
) -> None:
    """Print an architecture's index, string, size, benchmark numbers and device latencies.

    A DARTS genotype gets its evaluation network's sizes (C=36, 20 cells, CIFAR-10), its normal
    cell's parameter-free share, and NAS-Bench-301's predicted validation accuracy and training
    time: a surrogate's predictions, not measurements.
    """
    from pmfnas.runs.architecture import describe_arch, describe_genotype

    if space not in ("nb201", "darts"):
        raise ConfigError(f"unknown space {space!r} (known: nb201, darts)")
    if space == "darts" and dataset != "cifar10":
        raise ConfigError("a DARTS genotype is described on CIFAR-10 only: drop --dataset")
    if space == "darts":
        info = describe_genotype(arch, surrogate_folder(data_dir))
    else:
        info = describe_arch(arch, dataset, nb201_source(data_dir))
    if json_out:
        write_json(json_out, rounded(info))
        if json_out == STDOUT:
            return
    rows = {}
    for key, value in info.items():
        if key in ("dataset", "latency_ms"):  # in the title, and in a table of their own
            continue
        if isinstance(value, float) or value is None:
            value = fmt(value, 4 if key in SIZES else 2)
        rows[key] = str(value)
    if space == "darts":
        title = "DARTS genotype, CIFAR-10 evaluation network (C=36, 20 cells); NB301's predictions"
    else:
        title = f"NB201 #{info['index']} on {dataset}"
    print_fields(title, rows)
    if "latency_ms" in info:
        print_latencies(info["latency_ms"])


def rounded(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with the benchmark's numbers (latencies included) rounded to :data:`DECIMALS`."""

    def one(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: one(k, v) for k, v in value.items()}
        return round(value, DECIMALS) if isinstance(value, float) and key not in SIZES else value

    return {key: one(key, value) for key, value in info.items()}


def print_latencies(latencies: dict[str, float]) -> None:
    """One row per device, batch sizes in increasing order (HELP's names: ``_N`` is the batch
    size of a device measured at several)."""
    if not latencies:
        out.print("  latency_ms  n/a", markup=False, highlight=False)
        return
    table = Table("device", title="inference latency", title_justify="left")
    table.add_column("ms", justify="right")
    for device in sorted(latencies, key=_by_batch):
        table.add_row(device, f"{latencies[device]:.2f}")
    out.print(table)


def _by_batch(device: str) -> tuple[str, int]:
    """``titanx_32`` sorts as (titanx, 32), so that batch 32 comes before batch 256."""
    name, _, batch = device.rpartition("_")
    return (name, int(batch)) if name and batch.isdigit() else (device, 0)
