"""``pmfnas train``: train one architecture on real data and print its learning curve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pmfnas.cli.common import DataDirOption, LazyBar, app, out, print_fields
from pmfnas.cli.guards import (
    STDOUT,
    json_option,
    on_interrupt,
    output_file,
    output_folder,
    write_json,
)
from pmfnas.cli.trial_log import QuietOption, TrainLog, verbosity
from pmfnas.types import Fidelity


@app.command(old_names={"--checkpoint": "--checkpoints"})
def train(
    arch: Annotated[
        str,
        typer.Argument(
            help="NB201 architecture string or NATS index; with --space darts a DARTS genotype "
            "(Genotype(...) text) or a published name such as DARTS_V2."
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            help="cifar10, cifar100, ImageNet16-120, fashion-mnist, digits or an image folder."
        ),
    ] = "digits",
    space: Annotated[str, typer.Option(help="Search space: nb201 or darts.")] = "nb201",
    recipe: Annotated[
        str,
        typer.Option(
            help="Training recipe: nb201 (NB201's) or darts (DARTS' evaluation training: C=36, "
            "20 cells, auxiliary head, cutout, drop-path, 600 epochs; needs --space darts)."
        ),
    ] = "nb201",
    epochs: Annotated[
        int | None,
        typer.Option(help="Training epochs (default: the recipe's, nb201 12, darts 600)."),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Validation split: holdout[:S], nb201 or train-valid.")
    ] = "holdout",
    fraction: Annotated[float, typer.Option(help="Share of the training images.")] = 1.0,
    resolution: Annotated[int, typer.Option(help="Resize images to this side (0: as stored).")] = 0,
    channels: Annotated[
        int | None, typer.Option(help="Network width C (default 16; digits 8; darts 36).")
    ] = None,
    cells: Annotated[
        int | None, typer.Option(help="Cells per stage N (default 5; digits 1; darts 6).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size (default 256; digits 64; darts 96).")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Initial learning rate (default 0.1; darts 0.025).")
    ] = None,
    momentum: Annotated[float | None, typer.Option(help="SGD momentum (default 0.9).")] = None,
    nesterov: Annotated[
        bool | None,
        typer.Option(
            "--nesterov/--no-nesterov",
            help="Nesterov momentum (default: nb201 on, darts off).",
            show_default=False,
        ),
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option(help="Weight decay (default 5e-4; darts 3e-4).")
    ] = None,
    grad_clip: Annotated[
        float | None, typer.Option(help="Clip the gradient norm to this (0: off; darts 5).")
    ] = None,
    cutout: Annotated[
        int | None, typer.Option(help="Cutout square side in pixels (0: off; darts 16).")
    ] = None,
    drop_path: Annotated[
        float | None,
        typer.Option(help="Drop-path probability reached by the last epoch (0: off; darts 0.2)."),
    ] = None,
    auxiliary_weight: Annotated[
        float | None,
        typer.Option(help="Weight of the auxiliary head's loss (0: no head; darts 0.4)."),
    ] = None,
    valid_images: Annotated[
        int | None, typer.Option(help="Validate on at most this many images (0: all).")
    ] = None,
    test_images: Annotated[
        int | None, typer.Option(help="Test on at most this many images (0: all).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Torch threads (default: by network size, 1 for small ones)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and batch order.")] = 0,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Folder for per-epoch checkpoints; a rerun resumes after a crash.",
            callback=output_folder,
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            help="Save the trained weights here, with the sizes, architecture and input "
            "preprocessing `pmfnas export --weights` reads.",
            callback=output_file,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    json_out: Annotated[Path | None, json_option("the summary and curve")] = None,
    quiet: QuietOption = False,
) -> None:
    """Train one architecture with a recipe (NB201's or DARTS') and print its learning curve.

    Each finished epoch is a line on stderr (--quiet: none), and a training resumed from its
    --checkpoints says from which epoch.
    """
    from pmfnas.runs.architecture import save_trained, train_architecture
    from pmfnas.runs.profiles import training_evaluator, training_recipe
    from pmfnas.spaces import create_space
    from pmfnas.training.recipe import RECIPE_EPOCHS, named_recipe

    named_recipe(recipe)  # an unknown name before anything is read
    epochs = RECIPE_EPOCHS[recipe] if epochs is None else epochs
    fidelity = Fidelity(
        epochs=epochs, fraction=fraction, resolution=resolution, channels=channels or 0,
        cells=cells or 0,
    )  # fmt: skip
    chosen = training_recipe(
        data, recipe, channels=channels, cells_per_stage=cells, batch_size=batch_size, lr=lr,
        momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, grad_clip=grad_clip,
        cutout=cutout, drop_path=drop_path, auxiliary_weight=auxiliary_weight,
        valid_images=valid_images, test_images=test_images,
    )  # fmt: skip
    searched = create_space(space)
    bar = LazyBar("training", " epochs")
    log = TrainLog(bar, epochs, verbosity(quiet))
    with bar, on_interrupt(lambda: _stopped(log.done, epochs, checkpoints)):
        evaluator = training_evaluator(
            data,
            data_dir=data_dir,
            split=split,
            recipe=chosen,
            device=device,
            seed=seed,
            checkpoint_dir=checkpoints,
            watcher=log,
            space=searched,
            threads=threads,
        )
        model, summary = train_architecture(arch, evaluator, fidelity)
    if json_out != STDOUT:
        print_summary(summary)
    if save:
        save_trained(save, model, evaluator, arch, fidelity)
    if json_out:
        write_json(json_out, summary)


def _stopped(done: float, epochs: int, checkpoints: Path | None) -> str:
    """Where an interrupted training stopped, and whether a rerun can resume it."""
    where = f"training stopped in epoch {max(1, math.ceil(done))} of {epochs}"
    if checkpoints is None:
        return f"{where}; nothing was saved (--checkpoints makes a training resumable)"
    return f"{where}; {checkpoints} holds its finished epochs: rerun the same command to resume"


def print_curve(curve: list[dict[str, Any]]) -> None:
    table = Table("epoch", "train loss", "train acc", "valid loss", "valid acc", "lr", "s")
    for row in curve:
        table.add_row(
            str(row["epoch"]),
            f"{row['train_loss']:.4f}",
            f"{row['train_acc']:.2f}",
            f"{row['valid_loss']:.4f}",
            f"{row['valid_acc']:.2f}",
            f"{row['lr']:.4f}",
            f"{row['seconds']:.1f}",
        )
    out.print(table)


def print_summary(summary: dict[str, Any]) -> None:
    """The learning curve, then the trained network's size and accuracies."""
    print_curve(summary["curve"])
    index, space = summary["index"], summary["space"].upper()
    params = f"{summary['params_m']:.4f}"
    if "inference_params_m" in summary:
        params += f" ({summary['inference_params_m']:.4f} without the auxiliary head)"
    print_fields(
        f"{space} #{index} on {summary['data']}"
        if index is not None
        else f"{space} network on {summary['data']}",
        {
            "architecture": summary["arch"],
            "fidelity": summary["fidelity"],
            "parameters (M)": params,
            "validation accuracy": f"{summary['val_acc']:.2f}",
            "test accuracy": f"{summary['test_acc']:.2f}",
            "wall time (s)": f"{summary['seconds']:.1f}",
        },
    )
