"""``pmfnas arch``: look at one architecture."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pmfnas.cli.common import DataDirOption, app, fmt, nb201_source, out, print_fields

arch_app = typer.Typer(no_args_is_help=True, help="Look at one architecture.")
app.add_typer(arch_app, name="arch")


@arch_app.command("info")
def arch_info(
    arch: Annotated[str, typer.Argument(help="NB201 architecture string or NATS index.")],
    dataset: Annotated[str, typer.Option(help="cifar10, cifar100 or ImageNet16-120.")] = "cifar10",
    data_dir: DataDirOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print an architecture's index, string, size and benchmark numbers."""
    from pmfnas.runs.architecture import describe_arch

    info = describe_arch(arch, dataset, nb201_source(data_dir))
    if json_out:
        out.print_json(json.dumps(info))
        return
    rows = {}
    for key, value in info.items():
        if key == "latency_ms":
            value = ", ".join(f"{d} {v:.3g}" for d, v in value.items()) or "n/a"
        elif isinstance(value, float) or value is None:
            value = fmt(value, 4 if key.startswith(("params", "flops")) else 2)
        rows[key] = str(value)
    print_fields(f"NB201 #{info['index']} on {dataset}", rows)
