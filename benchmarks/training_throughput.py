"""Training throughput of pmfnas's loop against a plain hand-written PyTorch loop (issue 4).

Both train the same network (NB201 cell 6111, full size C=16 / N=5 unless told otherwise) on the
same images with the same batch size, augmentation (random crop + flip on tensors), optimizer
and per-batch cosine schedule. The plain loop does nothing else; pmfnas's ``fit`` also collects
loss and accuracy and writes a checkpoint after every epoch (validation is left out of both: the
plain loop has none). Runs alternate (plain, pmfnas, plain, ...) so that a busy machine slows both
alike; the median images per second of each is reported, with the overhead
1 − pmfnas / plain. Writes ``benchmarks/results/training_throughput_<device>.json``.

    PMFNAS_DATA=../shared/data python benchmarks/training_throughput.py [--device cuda] [--amp]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from pmfnas.data import ImageDataset, load_dataset, random_crop_flip
from pmfnas.data.base import take_fraction
from pmfnas.spaces.nb201 import NB201Space
from pmfnas.spaces.nb201.network import NB201Network
from pmfnas.training import TrainingRecipe, fit
from pmfnas.training.loop import Device


def plain_epoch(model, data: ImageDataset, recipe: TrainingRecipe, run: Device, seed: int) -> None:
    """The reference: shuffle, crop/flip, normalise, forward, backward, step. Nothing else."""
    x_all, y_all = data.train_x, data.train_y
    steps = math.ceil(len(y_all) / recipe.batch_size)
    optimizer, schedule = recipe.optimizer(model, steps)
    generator = torch.Generator().manual_seed(seed)
    mean = torch.tensor(data.mean, device=run.device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=run.device).view(1, -1, 1, 1)
    model.train()
    order = torch.randperm(len(y_all), generator=generator)
    for start in range(0, len(y_all), recipe.batch_size):
        index = order[start : start + recipe.batch_size]
        x = random_crop_flip(x_all[index].to(run.device), generator, padding=data.crop_padding)
        x = (x.float() / 255 - mean) / std
        y = y_all[index].to(run.device)
        with run.autocast():
            loss = F.cross_entropy(model(run.prepare(x)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()


def synchronize(run: Device) -> None:
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--images", type=int, default=2048, help="training images per epoch")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    full = load_dataset(args.data)
    data = take_fraction(full, min(1.0, args.images / len(full.train_y)), seed=0)
    recipe = TrainingRecipe(
        batch_size=args.batch_size, channels=args.channels, cells_per_stage=args.cells
    )
    run = Device.of(args.device, args.amp)
    cell = NB201Space().arch(6111)

    def network():
        torch.manual_seed(0)
        model = NB201Network(
            cell, channels=args.channels, cells_per_stage=args.cells,
            num_classes=data.num_classes, input_channels=data.channels,
        ).to(run.device)  # fmt: skip
        return model.to(memory_format=torch.channels_last) if run.channels_last else model

    images = len(data.train_y)
    rates: dict[str, list[float]] = {"plain": [], "pmfnas": []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
            for name in ("plain", "pmfnas"):
                model = network()
                synchronize(run)
                start = time.perf_counter()
                if name == "plain":
                    plain_epoch(model, data, recipe, run, seed=repeat)
                else:
                    checkpoint = Path(folder) / f"run{repeat}.pt"
                    fit(model, data, recipe, 1, seed=repeat, run=run, checkpoint=checkpoint)
                synchronize(run)
                seconds = time.perf_counter() - start
                if repeat:
                    rates[name].append(images / seconds)
                print(f"{name:>6}: {images / seconds:8.1f} images/s")
    plain, ours = (statistics.median(rates[k]) for k in ("plain", "pmfnas"))
    report = {
        "device": str(run.device),
        "device_name": torch.cuda.get_device_name(run.device)
        if run.device.type == "cuda"
        else "cpu",
        "threads": torch.get_num_threads(),
        "amp": run.amp,
        "channels_last": run.channels_last,
        "data": data.name,
        "images_per_epoch": images,
        "batch_size": args.batch_size,
        "network": f"NB201 #6111, C={args.channels}, N={args.cells}",
        "plain_images_per_second": rates["plain"],
        "pmfnas_images_per_second": rates["pmfnas"],
        "median_plain": plain,
        "median_pmfnas": ours,
        "overhead": 1 - ours / plain,
    }
    suffix = f"{run.device.type}{'_amp' if run.amp else ''}"
    out = args.out or Path(__file__).parent / "results" / f"training_throughput_{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"plain {plain:.1f} images/s, pmfnas {ours:.1f} images/s, overhead {report['overhead']:+.1%}"
    )
    print(f"→ {out}")


if __name__ == "__main__":
    main()
