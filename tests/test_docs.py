"""The README and docs/ are true: their Python snippets run, their command lines name real
options, their links resolve, and the worked example of docs/own_space.md (a search space and a
training function of one's own, registered and searched without editing pmfnas) does what the
page says."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import typer

from pmfnas.cli import app
from pmfnas.data import load_dataset
from pmfnas.errors import ArchitectureError
from pmfnas.evaluators.work import TRAIN_PASSES
from pmfnas.spaces import EnumerableSpace, SearchSpace, create_space
from pmfnas.spaces.counting import count_flops
from pmfnas.types import Fidelity, TrialState

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
OWN_SPACE = REPO / "docs" / "own_space.md"


def blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of ``page`` in ``language``."""
    text = page.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


SNIPPETS = [
    pytest.param(code, id=f"{page.name}-{number}")
    for page in PAGES
    if page != OWN_SPACE  # quotes its example file: checked against it below
    for number, code in enumerate(blocks(page, "python"))
]


@pytest.mark.parametrize("code", SNIPPETS)
def test_every_python_snippet_of_the_docs_runs(code, data_dir, monkeypatch):
    monkeypatch.setenv("PMFNAS_DATA", str(data_dir))
    exec(compile(code, "<snippet>", "exec"), {})


def test_own_space_md_quotes_its_example_verbatim():
    example = (REPO / "docs" / "examples" / "own_space.py").read_text(encoding="utf-8")
    quoted = blocks(OWN_SPACE, "python")
    assert quoted and all(code in example for code in quoted)


def command_lines(page: Path) -> list[str]:
    """The ``pmfnas ...`` lines of the page's shell blocks, continuation lines joined."""
    lines = []
    for block in blocks(page, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("pmfnas "):
                lines.append(line.split(" # ")[0])
    return lines


def test_every_command_line_of_the_docs_names_real_options():
    root = typer.main.get_command(app)
    unknown = []
    for page in PAGES:
        for line in command_lines(page):
            words = line.split()
            command = root.commands[words[1]]
            if hasattr(command, "commands"):  # a group: arch info, proxies compute ...
                command = command.commands[words[2]]
            options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            unknown += [
                f"{page.name}: {flag} in {line!r}"
                for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-o)(?![\w-])", line)
                if flag not in options
            ]
    assert not unknown, "\n".join(unknown)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of the page's headings."""
    headings = re.findall(r"^#+ (.*)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_of_the_docs_resolves():
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            linked = (page.parent / target).resolve() if target else page
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{page.name}: {target}#{anchor}")
    assert not broken, "\n".join(broken)


@pytest.fixture(scope="module")
def example() -> ModuleType:
    """docs/examples/own_space.py, imported once: it registers its space on import."""
    spec = importlib.util.spec_from_file_location("own_space", REPO / "docs/examples/own_space.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stored(example, tmp_path_factory) -> Path:
    """A storage file holding both searches of the example, run once as a script runs them."""
    path = tmp_path_factory.mktemp("own_space") / "chain.db"
    example.main(path)
    return path


def test_the_space_is_registered_and_keeps_the_protocol(example):
    space = create_space("chain")
    assert isinstance(space, example.ChainSpace)
    assert isinstance(space, SearchSpace) and not isinstance(space, EnumerableSpace)
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    assert space.parse(space.format(arch)) == arch
    assert space.resolve(" skip-conv3x3-maxpool ") == (3, 0, 2)
    assert len(space.neighbours(arch)) == 3 * 3  # one of 3 other ops on one of 3 layers
    assert sum(a != b for a, b in zip(space.mutate(arch, rng), arch, strict=True)) == 1
    assert space.encode(arch).shape == (3 * 4,)
    with pytest.raises(ArchitectureError):
        space.parse("conv3x3-conv5x5-skip")


def test_its_forward_flops_are_those_counted_on_its_network(example):
    space = example.ChainSpace()
    arch = space.parse("conv3x3-skip-conv1x1")
    sizes = {"channels": 8, "cells_per_stage": 2, "num_classes": 10, "input_channels": 1}
    counted = count_flops(space.network(arch, **sizes), 8, 1) * 1e6
    # stem 1→8 3×3, conv 8→8 3×3 and 1×1 twice each, on 8×8 pixels; the classifier 8→10 + bias
    assert counted == 64 * (9 * 8 + 2 * (9 * 64 + 64)) + 80 + 10
    assert space.forward_flops(arch, input_size=8, **sizes) == counted


def test_the_printed_summary_names_both_searches(example, stored, capsys):
    example.main(stored)  # a rerun on the same storage replays both studies
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["pmfnas training", "own training"]


def test_pmfnas_training_is_charged_its_counted_flops_within_the_budget(example, stored):
    result = example.search_with_pmfnas_training(stored)  # replayed: nothing is trained again
    space, recipe = example.ChainSpace(), example.RECIPE
    fidelity = Fidelity.parse(example.REA["fidelity"])
    trained = [t for t in result.trials if t.state is TrialState.COMPLETE]
    assert len(trained) > example.REA["population"]  # evolution went past its first population
    assert result.spent <= example.BUDGET
    for trial in trained:
        forward = space.forward_flops(
            trial.arch,
            channels=recipe.channels,
            cells_per_stage=recipe.cells_per_stage,
            num_classes=10,
            input_size=8,
            input_channels=1,
        )
        # the digits' holdout split: 1,081 training, 269 validation and 447 test images
        epoch = forward * (TRAIN_PASSES * 1081 + 269)
        assert trial.cost == pytest.approx(fidelity.epochs * epoch + forward * 447, rel=1e-12)
        assert 0 <= trial.info["test_acc"] <= 100
    assert result.best == max(trained, key=lambda t: (t.val_acc, -t.metrics["val_loss"]))


def test_an_own_training_function_is_called_once_per_new_architecture(example, stored):
    result, evaluator = example.search_with_own_training()
    assert evaluator.trainings == sum(t.state is TrialState.COMPLETE for t in result.trials)
    assert all(t.cost == 0 for t in result.trials if t.state is TrialState.REUSED)
    assert result.spent <= example.BUDGET
    assert result.best.val_acc == max(t.val_acc for t in result.trials)

    replayed, again = example.search_with_own_training(stored)
    assert again.trainings == 0  # the stored study is replayed, not trained again
    assert [(t.arch, t.val_acc) for t in replayed.trials] == [
        (t.arch, t.val_acc) for t in result.trials
    ]


def test_a_study_of_the_own_space_can_be_reported(example, stored, tmp_path):
    page = example.report(stored, tmp_path).read_text(encoding="utf-8")
    space, trials = example.ChainSpace(), example.search_with_pmfnas_training(stored).trials
    assert all(space.format(t.arch) in page for t in trials)
    assert "no size tables of chain networks" in page
    assert "no drawing of chain cells" in page
    assert (tmp_path / "anytime.png").is_file() and not (tmp_path / "pareto.png").exists()


def test_the_own_space_is_scored_by_proxies_on_its_own_networks(example):
    """The proxy evaluator builds the space's networks and reports the FLOPs its space counts."""
    from pmfnas.evaluators.proxy import ProxyEvaluator

    space = example.ChainSpace()
    digits = load_dataset("digits", split="holdout")
    evaluator = ProxyEvaluator(digits, channels=8, cells_per_stage=1, space=space)
    arch = space.parse("conv3x3-skip-conv1x1")
    scores = evaluator.scores(arch, ["flops", "params", "synflow"])
    assert scores["flops"].score == pytest.approx(evaluator.forward_flops(arch) / 1e6)
    assert scores["params"].score == pytest.approx(
        sum(p.numel() for p in space.network(arch, **example.NETWORK).parameters()) / 1e6
    )
    assert (
        scores["synflow"].score
        != evaluator.scores(space.parse("skip-skip-skip"), ["synflow"])["synflow"].score
    )
