"""``pmfnas export``: write a found architecture as a model file that runs without pmfnas."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pmfnas.cli.common import app, print_fields


class Format(StrEnum):
    """Choices of ``--format``, as ``pmfnas.spaces.nb201.export.ExportFormat``, which would import torch."""

    PYTHON = "python"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


@app.command("export", old_names={"-o": "--out"})
def export(
    arch: Annotated[str, typer.Argument(help="NB201 architecture string or NATS index.")],
    fmt: Annotated[
        Format,
        typer.Option("--format", "-f", help="Model file format."),
    ],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    num_classes: Annotated[int, typer.Option(min=1, help="Classifier outputs.")] = 10,
    channels: Annotated[int, typer.Option(min=1, help="Channels C of the first stage.")] = 16,
    cells: Annotated[int, typer.Option(min=1, help="Cells N per stage.")] = 5,
    input_channels: Annotated[int, typer.Option(min=1, help="Channels of the input.")] = 3,
    input_size: Annotated[
        int, typer.Option(min=4, help="Input height and width, a multiple of 4.")
    ] = 32,
    weights: Annotated[
        Path | None,
        typer.Option(help="Trained weights, a file of torch.save(model.state_dict())."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial weights without --weights.")] = 0,
) -> None:
    """Export the NB201 network of an architecture, in eval mode, as a standalone model file."""
    from pmfnas.spaces.nb201.export import export_model

    path = export_model(
        arch,
        fmt,
        out,
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=cells,
        input_channels=input_channels,
        input_size=input_size,
        weights=weights,
        seed=seed,
    )
    rows = {"format": fmt.value, "file": str(path)}
    if fmt is Format.PYTHON:
        rows["weights"] = str(path.with_suffix(".pt"))
    rows["source"] = str(weights) if weights else f"fresh initialisation, seed {seed}"
    print_fields("exported", rows)
