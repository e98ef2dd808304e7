"""One training-mode forward (and backward) pass that serves several proxies at once.

NASWOT codes, MeCo feature maps, the Jacobian of jacov, Fisher activations and the weight
gradients of grad_norm / snip / ZiCo / MFNAS all come from the same forward pass of a batch through
the network in training mode (batch norm on batch statistics, as NASLib and the papers run them),
so a request for several of them pays for that forward pass once. Work done only for one feature
(a hook's matrix products, the Jacobian's extra backward pass) is timed on its own, so that it can
be charged to the proxies that read it.
"""

from __future__ import annotations

import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pmfnas.errors import ConfigError
from pmfnas.evaluators.proxies.base import PassOutput, weighted_layers

PassFeature = Literal["grads", "codes", "fisher", "jacobian", "meco"]
"""What one pass can compute (a proxy's ``grad_pair`` is ``grads`` on two batches)."""


class FeatureClock:
    """Wall seconds spent on each feature's own work inside a pass."""

    def __init__(self) -> None:
        self.seconds: dict[PassFeature, float] = defaultdict(float)

    @contextmanager
    def __call__(self, feature: PassFeature) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[feature] += time.perf_counter() - start


def run_pass(
    net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, features: set[PassFeature]
) -> tuple[PassOutput, dict[PassFeature, float]]:
    """Run ``net`` (train mode) on one batch and compute the requested ``features``.

    Returns the features and the seconds spent on each feature's own work.
    """
    net.train()
    clock = FeatureClock()
    out = PassOutput()
    handles: list[torch.utils.hooks.RemovableHandle] = []
    layers = weighted_layers(net)
    acts: list[torch.Tensor] = []
    fan_ins: list[int] = []  # weights per output channel of the layer of each act
    meco_maps: list[torch.Tensor] = []
    n = inputs.shape[0]
    if "codes" in features:
        out.kernel = torch.zeros(n, n, dtype=torch.float64, device=inputs.device)
        hook = _codes_hook(out.kernel, clock)
        handles += [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    if "meco" in features:
        hook = _meco_hook(meco_maps, clock)
        handles += [m.register_forward_hook(hook) for m in net.modules()]
    if "fisher" in features:
        hook = _act_hook(acts, fan_ins)
        handles += [m.register_forward_hook(hook) for m in layers]

    backward = bool(features & {"grads", "fisher"})
    if "jacobian" in features:
        inputs = inputs.detach().requires_grad_(True)
    try:
        with torch.set_grad_enabled(backward or "jacobian" in features):
            logits = net(inputs)
    finally:
        for handle in handles:
            handle.remove()

    if "meco" in features:
        with clock("meco"):
            out.meco = _min_eigenvalues(meco_maps)
    if "jacobian" in features:
        with clock("jacobian"):
            (jac,) = torch.autograd.grad(
                logits, inputs, torch.ones_like(logits), retain_graph=backward
            )
            out.jacobian = jac.reshape(n, -1)
    if backward:
        check_targets(targets, logits)
        loss = F.cross_entropy(logits, targets)
        weights = [m.weight for m in layers] if "grads" in features else []
        grads = torch.autograd.grad(loss, [*weights, *acts], allow_unused=True)
        grads = [
            torch.zeros_like(t) if g is None else g
            for g, t in zip(grads, [*weights, *acts], strict=True)
        ]
        if "grads" in features:
            out.grads = grads[: len(weights)]
        if "fisher" in features:
            with clock("fisher"):
                out.fisher = _fisher(acts, grads[len(weights) :], fan_ins)
    return out, dict(clock.seconds)


def check_targets(targets: torch.Tensor, logits: torch.Tensor) -> None:
    if targets.numel() and int(targets.max()) >= logits.shape[1]:
        raise ConfigError(
            f"labels go up to {int(targets.max())} but the network has {logits.shape[1]} outputs "
            "(set num_classes)"
        )


class _PerTensor:
    """One value per tensor object, so that a tensor reaching several modules (NB201 edges leaving
    one node, a block and its last layer) is processed once. Holds weak references only: a
    freed tensor's id may be reused, and the dead reference then tells the new tensor apart."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}

    def get(self, tensor: torch.Tensor, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        entry = self._seen.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            entry = (weakref.ref(tensor), compute())
            self._seen[id(tensor)] = entry
        return entry[1]


def _codes_hook(kernel: torch.Tensor, clock: FeatureClock) -> Callable[..., None]:
    """Adds each ReLU's binary-code agreement counts to the NASWOT ``kernel``.

    The code of a unit is 1 where the ReLU's input is positive, i.e. the sign of its output. With
    codes c ∈ {0,1}^D, G = c·cᵀ and s = diag G (the number of ones), the number of units on which
    samples i and j agree is c_i·c_j + (1−c_i)·(1−c_j) = D − s_i − s_j + 2 G_ij: one matrix product
    per distinct ReLU input.
    """
    cache = _PerTensor()

    def counts(output: torch.Tensor) -> torch.Tensor:
        codes = output.detach().movedim(1, -1).reshape(output.shape[0], -1).sign()
        gram = (codes @ codes.T).double()
        ones = gram.diagonal()
        return gram.mul(2).sub_(ones[:, None]).sub_(ones[None, :]).add_(codes.shape[1])

    def hook(_module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        with clock("codes"):
            kernel.add_(cache.get(args[0], lambda: counts(output)))

    return hook


def _meco_hook(maps: list[torch.Tensor], clock: FeatureClock) -> Callable[..., None]:
    """Keeps the channel correlation matrix of the first sample of every 4-D module output."""
    cache = _PerTensor()

    def correlation(output: torch.Tensor) -> torch.Tensor:
        fmap = output[0].detach()
        return row_correlation(fmap.reshape(fmap.shape[0], -1))

    def hook(_module: nn.Module, _args: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            with clock("meco"):
                maps.append(cache.get(output, lambda: correlation(output)))

    return hook


def row_correlation(rows: torch.Tensor) -> torch.Tensor:
    """Pearson correlation between the rows of a matrix, in float64.

    A constant row has no defined correlation; like MeCo (which replaces NaN by 0) its row and
    column, diagonal included, are 0.
    """
    rows = rows.double()
    rows = rows - rows.mean(dim=1, keepdim=True)
    norms = rows.norm(dim=1, keepdim=True)
    unit = rows / torch.where(norms > 0, norms, torch.ones_like(norms))
    return unit @ unit.T


def _min_eigenvalues(matrices: list[torch.Tensor]) -> list[float]:
    """Smallest eigenvalue of each symmetric matrix, batched by size."""
    by_size: dict[int, list[torch.Tensor]] = defaultdict(list)
    for m in matrices:
        by_size[m.shape[0]].append(m)
    return [
        v
        for group in by_size.values()
        for v in torch.linalg.eigvalsh(torch.stack(group)).min(dim=-1).values.tolist()
    ]


def _act_hook(acts: list[torch.Tensor], fan_ins: list[int]) -> Callable[..., None]:
    """Keeps each layer output (in the graph) and its layer's weights per output channel."""

    def hook(module: nn.Module, _args: object, output: torch.Tensor) -> None:
        acts.append(output)
        fan_ins.append(module.weight[0].numel())

    return hook


def _fisher(acts: list[torch.Tensor], grads: list[torch.Tensor], fan_ins: list[int]) -> float:
    """Σ over layers and output channels k of w_k·½·mean_n(Σ_spatial a_nk·∂L/∂a_nk)².

    w_k, the number of weights of channel k, reproduces Abdelfattah et al./NASLib, who broadcast
    each channel's value to all weights of the channel before summing.
    """
    total = 0.0
    for act, grad, fan_in in zip(acts, grads, fan_ins, strict=True):
        prod = (act.detach() * grad).double()
        per_channel = prod.flatten(2).sum(-1) if prod.dim() > 2 else prod
        total += fan_in * float(per_channel.pow(2).mean(0).mul(0.5).sum())
    return total
