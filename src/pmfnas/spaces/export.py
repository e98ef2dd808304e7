"""Export a network as a file that runs without pmfnas: Python source, TorchScript or ONNX.

Every format holds the same network in eval mode, so batch norm uses its running statistics: the
given weights, or the fresh initialisation of a seed. A search ends with an architecture string;
this turns it into something a deployment or a training script elsewhere can load. Trained
weights saved with their record (:mod:`pmfnas.spaces.saved`) export as a model that takes the
dataset's raw pixels, its training's resizing and normalisation inside, and every export says
in its metadata what input it expects.

A :class:`NetworkKind` is a space's part: how its networks are built, named and written as
Python source (:data:`pmfnas.spaces.nb201.export.NB201`, :data:`pmfnas.spaces.darts.export.DARTS`);
the formats, the weights' checks and the metadata here are every space's. Which kind a call
exports (by space name, or the space a weights file records) is :mod:`pmfnas.runs.export`'s.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import pprint
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jinja2
import torch
from torch import nn

from pmfnas._version import __version__
from pmfnas.errors import ArchitectureError, ConfigError
from pmfnas.spaces.counting import count_parameters
from pmfnas.spaces.saved import NetworkRecord, Preprocessing, load_network
from pmfnas.types import Arch, check_seed

if TYPE_CHECKING:
    from pmfnas.spaces.base import SearchSpace

__all__ = [
    "ONNX_OPSET",
    "ExportFormat",
    "ExportedModel",
    "Network",
    "NetworkKind",
    "export_model",
    "prepare_model",
]

ONNX_OPSET = 18
"""The opset the torch.export-based ONNX exporter writes natively (no down-conversion)."""

SOURCE_TEMPLATE = "network.py.j2"
"""The jinja template of a kind's Python export, in its ``source_package``."""

SIZE_NAMES = ("num_classes", "channels", "cells_per_stage", "input_channels")
"""The sizes of every kind's network, in the order :func:`export_model` takes them."""


class ExportFormat(StrEnum):
    """What ``export_model`` writes."""

    PYTHON = "python"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


DEFAULT_INPUT_SIZE = 32

RESIZE_METHOD = "bilinear, antialiased, rounded to whole pixel values"


@dataclass(frozen=True)
class ExportedModel:
    """What :func:`export_model` wrote: the model file, its metadata file (and the metadata),
    and for the Python export its weights file."""

    path: Path
    metadata_file: Path
    metadata: dict[str, Any]
    weights_file: Path | None = None


@dataclass(frozen=True)
class NetworkKind:
    """A space's part of an export: its space (whose name weights files record, and which reads
    and writes architecture texts), how to check an architecture tuple, its default sizes
    (named as :data:`SIZE_NAMES`), how to build its network at given sizes, which input sides
    it takes, the package holding its Python template (:data:`SOURCE_TEMPLATE`) and what that
    template shows of an architecture beyond what every kind's shows, and the inference
    network's part of a trained state_dict (a training may hold more, such as an auxiliary head)."""

    space: SearchSpace
    check: Callable[[Arch], Arch]
    default_sizes: dict[str, int]
    build: Callable[..., nn.Module]
    check_input_size: Callable[[int], None]
    source_package: str
    source_context: Callable[[Arch], dict[str, Any]]
    inference_state: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] = dict

    @property
    def name(self) -> str:
        return self.space.name

    def resolve(self, arch: str | Arch) -> Arch:
        """An architecture from its text (or a shorthand the space knows) or a tuple."""
        if isinstance(arch, str):
            return self.space.resolve(arch)
        try:
            return self.check(tuple(arch))
        except TypeError as exc:
            raise ArchitectureError(f"not a {self.name} architecture: {arch!r}") from exc

    def format(self, arch: Arch) -> str:
        return self.space.format(arch)


@dataclass(frozen=True)
class Network:
    """The network to export, of which kind, and where it came from."""

    kind: NetworkKind
    model: nn.Module
    arch: Arch
    sizes: dict[str, int]
    record: NetworkRecord | None
    source: str
    trained: bool


def prepare_model(
    arch: str | Arch | None = None,
    *,
    num_classes: int | None = None,
    channels: int | None = None,
    cells_per_stage: int | None = None,
    input_channels: int | None = None,
    weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
    kind: NetworkKind,
) -> nn.Module:
    """The network of ``kind`` that ``export_model`` writes, in eval mode: with ``weights``,
    else seeded.

    A weights file of ``pmfnas train --save`` gives the architecture and the sizes; given ones
    must agree with it. Otherwise they default to the kind's.
    """
    sizes = (num_classes, channels, cells_per_stage, input_channels)
    return _network(arch, weights, seed, sizes, kind).model


def export_model(
    arch: str | Arch | None,
    fmt: str | ExportFormat,
    out: str | Path,
    *,
    num_classes: int | None = None,
    channels: int | None = None,
    cells_per_stage: int | None = None,
    input_channels: int | None = None,
    input_size: int | None = None,
    weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
    normalize: bool | None = None,
    kind: NetworkKind,
) -> ExportedModel:
    """Write the network of ``arch`` (of ``kind``) to ``out`` in format ``fmt``, with its
    metadata.

    With a weights file of ``pmfnas train --save`` (which records the architecture, the sizes
    and the training's input preprocessing) the exported model takes the dataset's raw pixels,
    0..255, at the size the dataset stores them: it resizes them as training did and normalises
    them inside. ``normalize=False`` leaves that out (the model then takes what the network
    took in training); ``normalize=True`` insists on it, an error when the weights record no
    preprocessing (a plain state_dict, or no weights); ``None`` bakes it in when it is known.

    The metadata (architecture, sizes, the expected input's shape, dtype, range and channels, the
    preprocessing and the class names) goes into ``out`` itself (TorchScript: the extra file
    ``pmfnas.json``; ONNX: the ``pmfnas`` metadata property; Python: ``METADATA``) and beside it
    as ``<out>.json``. ``python`` also writes the weights to ``out.with_suffix('.pt')``, which
    the generated ``build()`` loads. The input size fixes the TorchScript trace and the ONNX
    graph's image size (their batch dimension stays free); without a record it is
    ``input_size`` (default 32).
    """
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {choices}") from None
    out = Path(out)
    if fmt is ExportFormat.PYTHON and out.suffix != ".py":
        raise ConfigError(f"python export needs an output file ending in .py, got {out}")
    if input_size is not None:
        kind.check_input_size(input_size)
    sizes = (num_classes, channels, cells_per_stage, input_channels)
    network = _network(arch, weights, seed, sizes, kind)
    preprocessing = _preprocessing(normalize, network)
    shape = (network.sizes["input_channels"], *_input_size(input_size, network, preprocessing))
    metadata = _metadata(fmt, network, preprocessing, shape)
    text = json.dumps(metadata, indent=2)
    sidecar = out.with_name(out.name + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    source = _python_source(
        network,
        metadata,
        preprocessing,
        params=count_parameters(network.model),
        weights_name=out.with_suffix(".pt").name,
    )
    weights_file = None
    if fmt is ExportFormat.PYTHON:
        out.write_text(source, encoding="utf-8")
        weights_file = out.with_suffix(".pt")
        torch.save(network.model.state_dict(), weights_file)
    else:
        model = _with_preprocessing(network.model, source, out, preprocessing)
        # Batch 2, not 1: torch.export would specialise a dynamic dimension whose example is 1.
        # Raw pixels trace as uint8, so that the traced cast to float32 takes any dtype.
        raw = preprocessing is not None and fmt is ExportFormat.TORCHSCRIPT
        example = torch.zeros(2, *shape, dtype=torch.uint8 if raw else torch.float32)
        if fmt is ExportFormat.TORCHSCRIPT:
            _write_torchscript(model, example, out, text)
        else:
            _write_onnx(model, example, out, text)
    sidecar.write_text(text + "\n", encoding="utf-8")
    return ExportedModel(out, sidecar, metadata, weights_file)


def _network(
    arch: str | Arch | None,
    weights: str | Path | Mapping[str, torch.Tensor] | None,
    seed: int,
    sizes: tuple[int | None, ...],
    kind: NetworkKind,
) -> Network:
    """The network of ``arch`` at the given ``sizes`` (in the order of :data:`SIZE_NAMES`;
    ``None``: unset), else those of the weights' record, else the kind's defaults."""
    state, record, source = None, None, f"fresh initialisation, seed {seed}"
    if isinstance(weights, Mapping):
        state, source = dict(weights), "the given state_dict"
    elif weights is not None:
        (state, record), source = load_network(weights), f"weights file {weights}"
    if record is not None and record.space != kind.name:
        raise ConfigError(
            f"{source} holds a network of the {record.space!r} space, not of {kind.name!r}"
        )
    cell = _architecture(arch, record, source, kind)
    known = record.sizes() if record else kind.default_sizes
    given = dict(zip(SIZE_NAMES, sizes, strict=True))
    for name, value in given.items():
        if record is not None and value is not None and value != known[name]:
            raise ConfigError(
                f"{name}={value} disagrees with {source}, whose network has {name}={known[name]}"
            )
    sizes = {name: known[name] if value is None else value for name, value in given.items()}
    with torch.random.fork_rng(devices=[]):  # leave the caller's random stream alone
        torch.manual_seed(check_seed(seed))
        model = kind.build(cell, **sizes)
    if state is not None:
        state = kind.inference_state(state)
        network = (
            f"{kind.format(cell)} with C={sizes['channels']}, N={sizes['cells_per_stage']}, "
            f"{sizes['num_classes']} classes and {sizes['input_channels']} input channels"
        )
        _check_fits(model, state, f"{source} does not fit {network}")
        model.load_state_dict(state)
    trained = state is not None
    return Network(kind, model.eval(), cell, sizes, record, source, trained=trained)


def _architecture(
    arch: str | Arch | None, record: NetworkRecord | None, source: str, kind: NetworkKind
) -> Arch:
    """The given architecture, else the record's; the two must agree when both are known."""
    if arch is None:
        if record is None:
            raise ConfigError(
                "no architecture: give one, or a weights file of `pmfnas train --save`"
            )
        return kind.resolve(record.arch)
    cell = kind.resolve(arch)
    if record is not None and cell != kind.resolve(record.arch):
        raise ConfigError(
            f"architecture {kind.format(cell)} disagrees with {source}, which holds {record.arch}"
        )
    return cell


def _preprocessing(normalize: bool | None, network: Network) -> Preprocessing | None:
    """The preprocessing to bake in: the record's, unless ``normalize`` is false."""
    if normalize is False:
        return None
    if network.record is None:
        if normalize:
            raise ConfigError(
                f"{network.source} records no input preprocessing to bake in: save the weights "
                "with `pmfnas train --save`, or export without normalisation"
            )
        if network.trained:
            warnings.warn(
                f"{network.source} records no input preprocessing: the exported model takes "
                "input normalised as in training, not raw pixels (weights saved by "
                "`pmfnas train --save` export with it inside)",
                stacklevel=3,
            )
        return None
    return network.record.preprocessing


def _input_size(
    input_size: int | None, network: Network, preprocessing: Preprocessing | None
) -> tuple[int, int]:
    """Height and width of the exported model's input: the stored images' when it
    preprocesses them, else the network's training resolution (without a record:
    ``input_size``, default :data:`DEFAULT_INPUT_SIZE`)."""
    if network.record is None:
        side = input_size or DEFAULT_INPUT_SIZE
        return side, side
    if preprocessing is not None:
        expected, what = preprocessing.stored_size, "the size its data stores images at"
    else:
        expected, what = network.record.preprocessing.size, "the size its network was trained at"
    if input_size is not None and (input_size, input_size) != expected:
        raise ConfigError(
            f"input_size={input_size} disagrees with {network.source}: the exported model takes "
            f"{expected[0]}x{expected[1]} images, {what}"
        )
    return expected


def _metadata(
    fmt: ExportFormat,
    network: Network,
    preprocessing: Preprocessing | None,
    shape: tuple[int, int, int],
) -> dict[str, Any]:
    """What the exported model is and what it expects, as JSON-ready data."""
    record = network.record
    recorded = record.preprocessing if record else None
    if preprocessing is not None:
        values: Any = [0, 255]
    elif recorded is not None:
        values = "normalised: (pixels / 255 - mean) / std, with the mean and std below"
    else:
        values = "normalised as in training (the weights record no preprocessing)"
    any_dtype = preprocessing is not None and fmt is not ExportFormat.ONNX
    return {
        "pmfnas": __version__,
        "format": fmt.value,
        "arch": network.kind.format(network.arch),
        "network": network.sizes,
        "weights": network.source,
        "data": record.data if record else None,
        "classes": list(record.classes) if record and record.classes else None,
        "input": {
            "name": "input",
            "shape": ["batch", *shape],
            "layout": "NCHW",
            "dtype": "uint8 or float32" if any_dtype else "float32",
            "range": values,
            "channels": _colours(shape[0]) if record else shape[0],
            "preprocessing_inside": preprocessing is not None,
        },
        "preprocessing": None if recorded is None else _preprocessing_entry(recorded),
        "output": {"name": "logits", "shape": ["batch", network.sizes["num_classes"]]},
    }


def _colours(channels: int) -> str | int:
    """How pmfnas's readers store images of ``channels`` channels: grey, or red, green, blue."""
    return {1: "grey", 3: "RGB"}.get(channels, channels)


def _preprocessing_entry(pre: Preprocessing) -> dict[str, Any]:
    resize = {"from": list(pre.stored_size), "to": list(pre.size), "method": RESIZE_METHOD}
    return {
        "resize": resize if pre.resizes else None,
        "scale": 255,
        "mean": list(pre.mean),
        "std": list(pre.std),
    }


def _python_source(
    network: Network,
    metadata: dict[str, Any],
    preprocessing: Preprocessing | None,
    *,
    params: int,
    weights_name: str,
) -> str:
    """Source of a torch-only module defining the network (and, with ``preprocessing``, the
    module that feeds it raw pixels), from its kind's :data:`SOURCE_TEMPLATE`: what every
    kind's template shows (architecture text, sizes, input shape, preprocessing, metadata,
    parameter count, weights file) and the kind's own context."""
    kind = network.kind
    template = resources.files(kind.source_package).joinpath(SOURCE_TEMPLATE)
    text = template.read_text(encoding="utf-8")
    # No autoescaping: the output is Python source, not HTML.
    env = jinja2.Environment(
        autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return env.from_string(text).render(
        arch=network.kind.format(network.arch),
        version=__version__,
        **network.sizes,
        input_shape=tuple(metadata["input"]["shape"][1:]),
        preprocessing=preprocessing,
        metadata=pprint.pformat(metadata, width=96, sort_dicts=False),
        params=f"{params:,}",
        weights_name=weights_name,
        **kind.source_context(network.arch),
    )


def _with_preprocessing(
    model: nn.Module, source: str, out: Path, preprocessing: Preprocessing | None
) -> torch.nn.Module:
    """``model`` behind the generated source's ``RawPixels``, when there is preprocessing.

    TorchScript and ONNX trace the module the Python export defines, so all three formats share
    one definition of the preprocessing.
    """
    if preprocessing is None:
        return model
    module = ModuleType(f"pmfnas_export_{out.stem}")
    module.__file__ = str(out.with_suffix(".py"))
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module.RawPixels(model).eval()


def _write_torchscript(
    model: torch.nn.Module, example: torch.Tensor, out: Path, metadata: str
) -> None:
    """Trace and save the network, with ``metadata`` as the extra file ``pmfnas.json``.

    Traced, not scripted: TorchScript cannot compile the cell's comprehension, and the network has
    no data-dependent control flow, so the trace is exact at any batch size. Recent torch (2.13)
    marks torch.jit deprecated in favour of torch.export; asking for this format is asking for torch.jit,
    so that warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        torch.jit.save(
            torch.jit.trace(model, example), str(out), _extra_files={"pmfnas.json": metadata}
        )


def _write_onnx(model: torch.nn.Module, example: torch.Tensor, out: Path, metadata: str) -> None:
    """Export with torch.export (the exporter torch maintains) into one self-contained file,
    with ``metadata`` as the model's ``pmfnas`` metadata property."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"onnx export needs {' and '.join(missing)}: pip install 'pmfnas[onnx]'")
    with _quiet_onnx_exporter():
        program = torch.onnx.export(
            model,
            (example,),
            input_names=["input"],
            output_names=["logits"],
            opset_version=ONNX_OPSET,
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
        program.model.metadata_props["pmfnas"] = metadata
        program.save(out, external_data=False)


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


def _check_fits(model: nn.Module, state: Mapping[str, torch.Tensor], context: str) -> None:
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
