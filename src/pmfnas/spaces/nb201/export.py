"""Export an NB201 network as a file that runs without pmfnas: Python source, TorchScript or ONNX.

Every format holds the same network in eval mode, so batch norm uses its running statistics: the
given weights, or the fresh initialisation of a seed. A search ends with an architecture string;
this turns it into something a deployment or a training script elsewhere can load.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator, Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path

import jinja2
import torch

from pmfnas._version import __version__
from pmfnas.errors import ArchitectureError, ConfigError, DataError
from pmfnas.spaces.counting import count_parameters
from pmfnas.spaces.nb201.cell import EDGES, OPS, check, format_cell
from pmfnas.spaces.nb201.costs import check_input_size
from pmfnas.spaces.nb201.network import NB201Network
from pmfnas.spaces.nb201.space import NB201Space
from pmfnas.types import Arch, check_seed

__all__ = ["ONNX_OPSET", "ExportFormat", "export_model", "load_weights", "prepare_model"]

ONNX_OPSET = 18
"""The opset the torch.export-based ONNX exporter writes natively (no down-conversion)."""

_TEMPLATE = "network.py.j2"

_EDGE_MODULES = {
    "none": "nn.Identity()",
    "skip_connect": "nn.Identity()",
    "nor_conv_1x1": "ReLUConvBN(channels, channels, 1)",
    "nor_conv_3x3": "ReLUConvBN(channels, channels, 3)",
    "avg_pool_3x3": "nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)",
}
"""Source of each edge's module in the generated file, as ``pmfnas.spaces.nb201.ops.make_op`` builds it.

``none`` and ``skip_connect`` hold no parameters; the generated forward leaves them out of the sums
and their ``nn.Identity`` only keeps the ModuleList indices (and so the state_dict keys) aligned.
"""


class ExportFormat(StrEnum):
    """What ``export_model`` writes."""

    PYTHON = "python"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict saved with ``torch.save(model.state_dict(), path)``.

    ``weights_only=True`` unpickles tensors and containers only, so a foreign file cannot run code.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"weights file {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign, truncated or unsafe files
        if "Unsupported global" in str(exc):
            raise DataError(
                f"weights file {path} holds objects besides tensors; save model.state_dict()"
            ) from exc
        raise DataError(f"cannot read weights file {path}: not a whole torch.save file") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise DataError(f"weights file {path} is not a state_dict (a mapping of names to tensors)")
    return dict(state)


def prepare_model(
    arch: str | Arch,
    *,
    num_classes: int = 10,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_channels: int = 3,
    weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> NB201Network:
    """The network that ``export_model`` writes, in eval mode: with ``weights``, else seeded."""
    cell = _resolve(arch)
    sizes = {
        "num_classes": num_classes,
        "channels": channels,
        "cells_per_stage": cells_per_stage,
        "input_channels": input_channels,
    }
    with torch.random.fork_rng(devices=[]):  # leave the caller's random stream alone
        torch.manual_seed(check_seed(seed))
        model = NB201Network(cell, **sizes)
    if weights is not None:
        if isinstance(weights, Mapping):
            state, source = dict(weights), "the given state_dict"
        else:
            state, source = load_weights(weights), f"weights file {weights}"
        network = (
            f"{format_cell(cell)} with C={channels}, N={cells_per_stage}, {num_classes} classes "
            f"and {input_channels} input channels"
        )
        _check_fits(model, state, f"{source} does not fit {network}")
        model.load_state_dict(state)
    return model.eval()


def export_model(
    arch: str | Arch,
    fmt: str | ExportFormat,
    out: str | Path,
    *,
    num_classes: int = 10,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_channels: int = 3,
    input_size: int = 32,
    weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> Path:
    """Write the network of ``arch`` to ``out`` in format ``fmt`` and return ``out``.

    ``python`` also writes the weights to ``out.with_suffix('.pt')``, which the generated
    ``build()`` loads. ``input_size`` fixes the spatial size of the TorchScript trace and of the
    ONNX graph (whose batch dimension stays dynamic) and is documented in the Python file.
    """
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {choices}") from None
    out = Path(out)
    if fmt is ExportFormat.PYTHON and out.suffix != ".py":
        raise ConfigError(f"python export needs an output file ending in .py, got {out}")
    check_input_size(input_size)
    cell = _resolve(arch)
    model = prepare_model(
        cell,
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=cells_per_stage,
        input_channels=input_channels,
        weights=weights,
        seed=seed,
    )
    # Batch 2, not 1: torch.export would specialise a dynamic dimension whose example is 1.
    example = torch.zeros(2, input_channels, input_size, input_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt is ExportFormat.PYTHON:
        source = _python_source(
            cell,
            num_classes=num_classes,
            channels=channels,
            cells_per_stage=cells_per_stage,
            input_channels=input_channels,
            input_size=input_size,
            params=count_parameters(model),
            weights_name=out.with_suffix(".pt").name,
        )
        out.write_text(source, encoding="utf-8")
        torch.save(model.state_dict(), out.with_suffix(".pt"))
    elif fmt is ExportFormat.TORCHSCRIPT:
        _write_torchscript(model, example, out)
    else:
        _write_onnx(model, example, out)
    return out


def _python_source(
    cell: Arch,
    *,
    num_classes: int,
    channels: int,
    cells_per_stage: int,
    input_channels: int,
    input_size: int,
    params: int,
    weights_name: str,
) -> str:
    """Source of a torch-only module defining the network of ``cell``, its cell forward unrolled."""
    ops = [OPS[op] for op in check(cell)]
    edges = [
        {"src": src, "dst": dst, "op": op, "module": _EDGE_MODULES[op]}
        for (src, dst), op in zip(EDGES, ops, strict=True)
    ]
    text = resources.files(__package__).joinpath(_TEMPLATE).read_text(encoding="utf-8")
    # No autoescaping: the output is Python source, not HTML.
    env = jinja2.Environment(
        autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return env.from_string(text).render(
        arch=format_cell(cell),
        version=__version__,
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=cells_per_stage,
        input_channels=input_channels,
        input_size=input_size,
        params=f"{params:,}",
        weights_name=weights_name,
        edges=edges,
        forward=_forward_lines(ops),
    )


def _forward_lines(ops: list[str]) -> list[str]:
    """The cell's forward as straight-line code over the nodes that reach the output.

    A ``none`` edge adds zeros and a skip edge its input unchanged, so dropping the one and
    inlining the other keep every sum bit for bit (finite inputs) while skipping dead work.
    """
    live = {3}
    for target in (3, 2, 1):
        if target in live:
            live.update(
                src
                for (src, dst), op in zip(EDGES, ops, strict=True)
                if dst == target and op != "none"
            )
    lines = []
    for target in (1, 2, 3):
        if target not in live:
            continue
        terms = [
            f"node{src}" if op == "skip_connect" else f"self.edges[{index}](node{src})"
            for index, ((src, dst), op) in enumerate(zip(EDGES, ops, strict=True))
            if dst == target and op != "none"
        ]
        lines.append(f"node{target} = {' + '.join(terms) or 'torch.zeros_like(node0)'}")
    return [*lines, "return node3"]


def _write_torchscript(model: NB201Network, example: torch.Tensor, out: Path) -> None:
    """Trace and save the network.

    Traced, not scripted: TorchScript cannot compile the cell's comprehension, and the network has
    no data-dependent control flow, so the trace is exact at any batch size. Recent torch (2.13)
    marks torch.jit deprecated in favour of torch.export; asking for this format is asking for torch.jit,
    so that warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        torch.jit.save(torch.jit.trace(model, example), str(out))


def _write_onnx(model: NB201Network, example: torch.Tensor, out: Path) -> None:
    """Export with torch.export (the exporter torch maintains) into one self-contained file."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"onnx export needs {' and '.join(missing)}: pip install 'pmfnas[onnx]'")
    with _quiet_onnx_exporter():
        torch.onnx.export(
            model,
            (example,),
            out,
            input_names=["input"],
            output_names=["logits"],
            opset_version=ONNX_OPSET,
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            external_data=False,
            verbose=False,
        )


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Hide the exporter's notes about absent torchvision ops and torch-internal FutureWarnings."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _resolve(arch: str | Arch) -> Arch:
    """A cell from an arch string, an NATS index (as text) or a cell tuple."""
    if isinstance(arch, str):
        return NB201Space().resolve(arch)
    try:
        return check(tuple(arch))
    except TypeError as exc:
        raise ArchitectureError(f"not an NB201 architecture: {arch!r}") from exc


def _check_fits(model: NB201Network, state: Mapping[str, torch.Tensor], context: str) -> None:
    """Raise one ConfigError naming the missing, unexpected and misshapen keys, if any."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    misshapen = [
        f"{key} {tuple(state[key].shape)} instead of {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    problems = [
        f"{label} {_some(items)}"
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape of", misshapen),
        )
        if items
    ]
    if problems:
        raise ConfigError(f"{context}: {'; '.join(problems)}")


def _some(items: list[str], shown: int = 3) -> str:
    """The first few items of a long list, and how many more there are."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
