"""The checks that need a GPU (issues 17 and 18), as one run sized for a short lease.

A lent GPU machine has only the repository, a few minutes, and no ``../shared``; so this script
first makes, here, a data folder small enough to travel (``--prepare``): the first ``--per-class``
images of each CIFAR-10 class of the shared JPEG training folder, and NAS-Bench-301's surrogate.
Then, there, it runs each step in a process of its own under its own time limit; a step that
fails or runs out of time is recorded so, and the next one goes on:

1. ``cuda``: the GPU PyTorch sees.
2. ``training``: real trainings per wall minute on the GPU (``parallel_training.py --device
   cuda``): one at a time, then two worker processes sharing GPU 0, the same cells each way.
3. ``oneshot``: DARTS, GDAS, DrNAS and G-ICSO on the DARTS supernet at the reference profile's
   size (8 cells, C=16, 32-pixel images) on ``--images`` + ``--images`` images for ``--epochs``
   epochs, four searches at once on the GPU, each ended by ``--seconds`` if it runs longer
   (``oneshot_nb201.py --device cuda``); each derived genotype scored by the surrogate.
4. ``recipe``: the DARTS final-training recipe (C=36, 20 cells, auxiliary head, cutout,
   drop-path) for ``--recipe-epochs`` epochs on G-ICSO's genotype from step 3 (or, if that step
   failed, the stored cpu-profile one) on the subset (``pmfnas train --recipe darts``).

The steps' time limits (60, 150, ``--seconds`` + 60 and 60 + 12 a recipe epoch: 570 s by
default) keep the whole run inside one 10-minute command of the device tool. Writes
``gpu_checks.json`` (each step's command, exit code, seconds and result, the steps' own
JSONs included) and each step's log to ``--out`` (on a lent machine, ``$OUT``, which comes back).
``.gpu_data`` is git-ignored: name it in the device tool's ``carry``.

    python benchmarks/gpu_checks.py --prepare .gpu_data --data-dir ../shared/data   # here
    python3 benchmarks/gpu_checks.py --data-dir .gpu_data --out "$OUT"              # there
        [--steps cuda,training,oneshot,recipe] [--images 2500] [--epochs 10]
        [--seconds 120] [--recipe-epochs 10] [--recipe-fraction 1] [--trainings 12]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
SOURCE = HERE.parent / "src"
IMAGES = Path("cifar-10-jpeg") / "train"
SURROGATE = Path("darts") / "yahpo_nb301"
METHODS = "darts;gdas;drnas;gicso"
STORED_ONESHOT = RESULTS / "oneshot_darts_cpu_images4000_debias.json"
"""Where G-ICSO's genotype comes from when this run's one-shot step has none: today's G-ICSO at the
cpu profile (seed 0)."""


def prepare(target: Path, data_dir: Path, per_class: int) -> None:
    """Copy the first ``per_class`` images of each class and the surrogate into ``target``."""
    source = data_dir / IMAGES
    if not source.is_dir():
        raise SystemExit(f"error: {source} is not a folder of CIFAR-10 images")
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        into = target / IMAGES / folder.name
        into.mkdir(parents=True, exist_ok=True)
        for image in sorted(folder.iterdir())[:per_class]:
            shutil.copyfile(image, into / image.name)
    shutil.copytree(data_dir / SURROGATE, target / SURROGATE, dirs_exist_ok=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"wrote {target}: {per_class} images per class and the surrogate, {size / 2**20:.1f} MiB")


def step(name: str, command: list[str], limit: float, log: Path) -> dict:
    """Run ``command`` for at most ``limit`` seconds, its output to ``log``; the package is
    imported from this checkout (a lent machine has it uninstalled)."""
    started = time.perf_counter()
    path = os.pathsep.join(filter(None, (str(SOURCE), os.environ.get("PYTHONPATH"))))
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    with log.open("w") as out:
        try:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=environment, timeout=limit
            )
            code: int | str = done.returncode
        except subprocess.TimeoutExpired:
            code = "timed out"
    seconds = round(time.perf_counter() - started, 1)
    print(f"{name}: {code} after {seconds} s (log: {log.name})", flush=True)
    return {"command": command, "exit": code, "seconds": seconds}


def gicso_genotype(oneshot: Path) -> tuple[str, str]:
    """G-ICSO's seed-0 genotype from ``oneshot`` if it has one, else from the stored cpu run."""
    for source in (oneshot, STORED_ONESHOT):
        if source.exists():
            runs = json.loads(source.read_text())["runs"]
            found = [r["arch"] for r in runs if r["method"].startswith("gicso")]
            if found:
                return found[0], source.name
    raise SystemExit(f"error: no G-ICSO genotype in {oneshot} or {STORED_ONESHOT}")


def check_cuda(args: argparse.Namespace) -> dict:
    probe = (
        "import json, torch; print(json.dumps({'torch': torch.__version__, "
        "'cuda': torch.cuda.is_available(), 'gpus': [torch.cuda.get_device_name(i) "
        "for i in range(torch.cuda.device_count())]}))"
    )
    ran = step("cuda", [sys.executable, "-c", probe], 60, args.out / "cuda.log")
    lines = (args.out / "cuda.log").read_text().strip().splitlines() or ["null"]
    return {**ran, "result": json.loads(lines[-1]) if ran["exit"] == 0 else None}


def check_training(args: argparse.Namespace) -> dict:
    written = fresh(RESULTS / f"parallel_training_gpu_checks_{args.device}.json")
    command = [
        sys.executable, str(HERE / "parallel_training.py"), "--ways", "serial,process",
        "--repeats", "1", "--cores", "2", "--trainings", str(args.trainings),
        "--data", str(args.data_dir / IMAGES), "--device", args.device,
        "--suffix", written.stem.removeprefix("parallel_training_"),
        *(["--gpus", "0"] if args.device == "cuda" else []),
    ]  # fmt: skip
    ran = step("training", command, 150, args.out / "training.log")
    return {**ran, "result": read(written)}


def check_oneshot(args: argparse.Namespace) -> dict:
    written = fresh(oneshot_file(args))
    command = [
        sys.executable, str(HERE / "oneshot_nb201.py"), "--data-dir", str(args.data_dir),
        "--data", str(IMAGES), "--space", "darts", "--profile", "reference",
        "--methods", METHODS, "--seeds", "0-0", "--epochs", str(args.epochs),
        "--images", str(args.images), "--jobs", "4", "--threads", "2",
        "--device", args.device, "--seconds", str(args.seconds), "--suffix", args.device,
    ]  # fmt: skip
    ran = step("oneshot", command, args.seconds + 60, args.out / "oneshot.log")
    return {**ran, "result": read(written)}


def check_recipe(args: argparse.Namespace) -> dict:
    genotype, source = gicso_genotype(oneshot_file(args))
    written = fresh(args.out / "recipe.json")
    command = [
        sys.executable, "-m", "pmfnas", "train", "--space", "darts", genotype, "--recipe", "darts",
        "--data", str(args.data_dir / IMAGES), "--epochs", str(args.recipe_epochs),
        "--device", args.device, "--fraction", str(args.recipe_fraction),
        "--json", str(written), "--quiet",
    ]  # fmt: skip
    ran = step("recipe", command, 60 + 12 * args.recipe_epochs, args.out / "recipe.log")
    return {**ran, "genotype_from": source, "result": read(written)}


CHECKS = {
    "cuda": check_cuda,
    "training": check_training,
    "oneshot": check_oneshot,
    "recipe": check_recipe,
}


def oneshot_file(args: argparse.Namespace) -> Path:
    return RESULTS / f"oneshot_darts_reference_{args.device}.json"


def fresh(path: Path) -> Path:
    """``path``, with what an earlier run left there removed (a step that fails writes none)."""
    path.unlink(missing_ok=True)
    return path


def read(path: Path) -> dict | None:
    """The JSON a step wrote, if it wrote one."""
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--prepare", type=Path, help="make this travelling data folder, and stop")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--steps", default=",".join(CHECKS))
    parser.add_argument("--device", default="cuda", help="cpu only to try this script out")
    parser.add_argument("--trainings", type=int, default=12)
    parser.add_argument("--images", type=int, default=2500, help="per half (w, α)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120.0, help="per one-shot search")
    parser.add_argument("--recipe-epochs", type=int, default=10)
    parser.add_argument("--recipe-fraction", type=float, default=1.0, help="of the images")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.data_dir, args.per_class)
        return
    unknown = set(args.steps.split(",")) - set(CHECKS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; the steps are {', '.join(CHECKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"device": args.device, "data": str(args.data_dir / IMAGES), "steps": {}}
    for name in args.steps.split(","):
        report["steps"][name] = CHECKS[name](args)
        (args.out / "gpu_checks.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'gpu_checks.json'}")


if __name__ == "__main__":
    main()
