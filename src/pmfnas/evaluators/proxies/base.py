"""What every zero-cost proxy shares: the registry, the score record and the context it reads.

A proxy is a function ``ctx -> float`` registered under a name, with a fixed sign: a higher score
predicts a better architecture. It either does its own work on a fresh copy of the network
(:meth:`ProxyContext.network`) or reads *features* that one shared pass computes for several
proxies at once (``needs``, see :mod:`pmfnas.evaluators.proxies.passes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch
from torch import nn

from pmfnas.registry import Registry
from pmfnas.spaces.nb201.ops import Cell
from pmfnas.types import Arch

Feature = Literal["grads", "grad_pair", "codes", "fisher", "jacobian", "meco"]
"""What a proxy can ask of the shared training-mode passes (see ``passes.py``)."""


@dataclass(frozen=True)
class ProxyScore:
    """One proxy's score (higher = predicted better) and the wall seconds charged to it."""

    score: float
    seconds: float


@dataclass(frozen=True)
class Proxy:
    """A registered proxy: its scoring function, the shared-pass features it reads and the
    forward passes its own work costs, as ``(per batch image, fixed)`` image passes (a
    training step counts three, see :mod:`pmfnas.evaluators.work`)."""

    name: str
    fn: Callable[[ProxyContext], float]
    needs: frozenset[Feature] = frozenset()
    work: tuple[float, float] = (0.0, 0.0)


PROXIES: Registry[Proxy] = Registry("proxy")


def register_proxy(
    name: str, needs: tuple[Feature, ...] = (), work: tuple[float, float] = (0.0, 0.0)
) -> Callable[[Callable[[ProxyContext], float]], Callable[[ProxyContext], float]]:
    """Decorator: register ``fn`` as the proxy ``name`` that reads the features ``needs`` and
    does ``work`` of its own."""

    def add(fn: Callable[[ProxyContext], float]) -> Callable[[ProxyContext], float]:
        PROXIES.register(name)(Proxy(name, fn, frozenset(needs), work))
        return fn

    return add


@dataclass
class PassOutput:
    """Features of one training-mode pass over one batch (only those that were asked for).

    ``grads`` lists the cross-entropy gradient of each weighted layer's weight, in the order of
    :func:`weighted_layers`; ``kernel`` is the NASWOT kernel; ``fisher`` the summed Fisher
    saliency; ``jacobian`` the input gradient of the summed logits, one row per sample;
    ``meco`` the minimum eigenvalue of each feature map's channel correlation.
    """

    grads: list[torch.Tensor] | None = None
    kernel: torch.Tensor | None = None
    fisher: float | None = None
    jacobian: torch.Tensor | None = None
    meco: list[float] | None = None


@dataclass
class ProxyContext:
    """Everything a proxy may read: the untouched network, the batches and the pass features.

    ``template`` (made by ``build``) is only read; proxies that run the network or change it
    work on a fresh copy from :meth:`network`.
    ``cell`` and ``network_kwargs`` are set when the network is an NB201 cell, and ``flops``
    when the caller's space counts the network's FLOPs, so that size proxies can use the
    analytic counts. ``passes`` maps a batch key (``"batch"`` and either
    ``"batch2"`` or the halves ``"half1"``, ``"half2"``) to its :class:`PassOutput`.
    """

    build: Callable[[], nn.Module]
    template: nn.Module
    inputs: torch.Tensor
    targets: torch.Tensor
    seed: int
    cell: Arch | None = None
    network_kwargs: dict[str, int] = field(default_factory=dict)
    flops: float | None = None
    pair_keys: tuple[str, str] = ("batch", "batch2")
    passes: dict[str, PassOutput] = field(default_factory=dict)

    def network(self) -> nn.Module:
        """A freshly built copy of the initial network (same weights), free to be changed."""
        return self.build()

    def feature(self, name: str) -> Any:
        """A feature (a :class:`PassOutput` field) of the pass over the first batch."""
        return _require(getattr(self.passes["batch"], name))

    def grads(self) -> list[torch.Tensor]:
        """Per-layer weight gradients of the cross-entropy on the first batch."""
        return _require(self.passes["batch"].grads)

    def grad_pair(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer weight gradients on each of the two mini-batches."""
        first, second = (self.passes[key].grads for key in self.pair_keys)
        return _require(first), _require(second)


T = TypeVar("T")


def _require(value: T | None) -> T:
    if value is None:
        raise RuntimeError("a proxy read a feature it did not declare in `needs`")
    return value


def weighted_layers(net: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    """Convolutions and linear layers, in module order: the layers the proxies score."""
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def cell_layer_mask(net: nn.Module) -> list[bool]:
    """For each of :func:`weighted_layers`, whether it is a convolution inside an NB201 cell.

    A network without NB201 cells counts every convolution as a cell layer.
    """
    inside = {id(m) for cell in net.modules() if isinstance(cell, Cell) for m in cell.modules()}
    layers = weighted_layers(net)
    if not inside:
        return [isinstance(m, nn.Conv2d) for m in layers]
    return [isinstance(m, nn.Conv2d) and id(m) in inside for m in layers]
