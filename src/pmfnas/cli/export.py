"""``pmfnas export``: write a found architecture as a model file that runs without pmfnas."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from pmfnas.cli.common import app, print_fields


class Format(StrEnum):
    """Choices of ``--format``, as ``pmfnas.spaces.export.ExportFormat``, which would import torch."""

    PYTHON = "python"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


RECORDED = "default: the record of --weights, else"


@app.command("export", old_names={"-o": "--out"})
def export(
    fmt: Annotated[
        Format,
        typer.Option("--format", "-f", help="Model file format."),
    ],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    arch: Annotated[
        str | None,
        typer.Argument(
            help="NB201 architecture string or NATS index; with --space darts a DARTS genotype "
            "or a published name such as DARTS_V2 (default: that of --weights).",
            show_default=False,
        ),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(
            help="Search space of the network: nb201 or darts (default: that of --weights, "
            "else nb201).",
            show_default=False,
        ),
    ] = None,
    num_classes: Annotated[
        int | None, typer.Option(min=1, help=f"Classifier outputs ({RECORDED} 10).")
    ] = None,
    channels: Annotated[
        int | None,
        typer.Option(min=1, help=f"Channels C of the first stage ({RECORDED} 16; darts 36)."),
    ] = None,
    cells: Annotated[
        int | None, typer.Option(min=1, help=f"Cells N per stage ({RECORDED} 5; darts 6).")
    ] = None,
    input_channels: Annotated[
        int | None, typer.Option(min=1, help=f"Channels of the input ({RECORDED} 3).")
    ] = None,
    input_size: Annotated[
        int | None,
        typer.Option(min=4, help=f"Input height and width, a multiple of 4 ({RECORDED} 32)."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            help="Trained weights: a file of `pmfnas train --save`, or of "
            "torch.save(model.state_dict())."
        ),
    ] = None,
    normalize: Annotated[
        bool | None,
        typer.Option(
            "--normalize/--no-normalize",
            help="Bake the training's resizing and normalisation into the model, so that it "
            "takes raw 0..255 pixels (default: when --weights records them).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial weights without --weights.")] = 0,
) -> None:
    """Export the network of an architecture (NB201's, or DARTS' evaluation network without its
    auxiliary head), in eval mode, as a standalone model file, with its expected input in the
    file and in FILE.json beside it."""
    from pmfnas.runs.export import export_model

    exported = export_model(
        arch,
        fmt,
        out,
        space=space,
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=cells,
        input_channels=input_channels,
        input_size=input_size,
        weights=weights,
        seed=seed,
        normalize=normalize,
    )
    meta = exported.metadata
    rows = {"format": fmt.value, "file": str(exported.path)}
    if exported.weights_file:
        rows["weights"] = str(exported.weights_file)
    rows["metadata"] = str(exported.metadata_file)
    rows["architecture"] = meta["arch"]
    rows["source"] = meta["weights"]
    print_fields("exported", {**rows, **input_rows(meta)})


def input_rows(meta: dict[str, Any]) -> dict[str, str]:
    """What the exported model takes and gives, in words, from its metadata."""
    given = meta["input"]
    batch, *image = given["shape"]
    shape = f"({batch}, {', '.join(map(str, image))})"
    if given["preprocessing_inside"]:
        values = f"raw pixels {given['range'][0]}..{given['range'][1]}"
    else:
        values = given["range"]
    rows = {"input": f"{given['dtype']} {shape}, {given['channels']} channels; {values}"}
    pre = meta["preprocessing"]
    if pre is not None:
        steps = [
            f"/ {pre['scale']}",
            f"- mean {_numbers(pre['mean'])}",
            f"/ std {_numbers(pre['std'])}",
        ]
        if pre["resize"]:
            size = "x".join(map(str, pre["resize"]["to"]))
            steps.insert(0, f"resize to {size} ({pre['resize']['method']})")
        where = "inside the model" if given["preprocessing_inside"] else "yours to apply"
        rows["preprocessing"] = f"{where}: {', '.join(steps)}"
    classes = meta["classes"]
    if classes:
        more = f" … ({len(classes)})" if len(classes) > 10 else ""
        rows["classes"] = ", ".join(classes[:10]) + more
    rows["output"] = f"{meta['output']['name']} ({', '.join(map(str, meta['output']['shape']))})"
    return rows


def _numbers(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"
