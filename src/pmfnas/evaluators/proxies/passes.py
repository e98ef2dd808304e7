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
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from pmfnas.errors import ConfigError
from pmfnas.evaluators.proxies.base import PassOutput, weighted_layers

PassFeature = str
"""One of ``grads``, ``codes``, ``fisher``, ``jacobian``, ``meco``."""


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
        handles += [m.register_forward_hook(lambda _m, _i, o: acts.append(o)) for m in layers]

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
                out.fisher = _fisher(acts, grads[len(weights) :])
    return out, dict(clock.seconds)


def check_targets(targets: torch.Tensor, logits: torch.Tensor) -> None:
    if targets.numel() and int(targets.max()) >= logits.shape[1]:
        raise ConfigError(
            f"labels go up to {int(targets.max())} but the network has {logits.shape[1]} outputs "
            "(set num_classes)"
        )


def _codes_hook(kernel: torch.Tensor, clock: FeatureClock) -> Callable[..., None]:
    """Adds each ReLU's binary-code agreement counts to the NASWOT ``kernel``.

    With codes c ∈ {0,1}^D and row sums s, the number of units on which samples i and j agree is
    c_i·c_j + (1−c_i)·(1−c_j) = D − s_i − s_j + 2 c_i·c_j: one matrix product per ReLU. ReLUs
    fed by the same tensor (NB201 edges leaving one node) reuse its counts.
    """
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id → (tensor kept alive, counts)

    def hook(_module: nn.Module, args: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        with clock("codes"):
            x = args[0]
            if id(x) not in seen:
                codes = x.detach().movedim(1, -1).reshape(x.shape[0], -1).gt(0).to(torch.float32)
                sums = codes.sum(dim=1, dtype=torch.float64)
                counts = (codes @ codes.T).double().mul_(2).add_(codes.shape[1])
                seen[id(x)] = (x, counts.sub_(sums[:, None]).sub_(sums[None, :]))
            kernel.add_(seen[id(x)][1])

    return hook


def _meco_hook(maps: list[torch.Tensor], clock: FeatureClock) -> Callable[..., None]:
    """Keeps the channel correlation matrix of the first sample of every 4-D module output."""

    def hook(_module: nn.Module, _args: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            with clock("meco"):
                fmap = output[0].detach()
                maps.append(row_correlation(fmap.reshape(fmap.shape[0], -1)))

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


def _fisher(acts: list[torch.Tensor], grads: list[torch.Tensor]) -> float:
    """Σ over layers and output channels k of ½·mean_n(Σ_spatial a_nk·∂L/∂a_nk)²."""
    total = 0.0
    for act, grad in zip(acts, grads, strict=True):
        prod = (act.detach() * grad).double()
        per_channel = prod.flatten(2).sum(-1) if prod.dim() > 2 else prod
        total += float(per_channel.pow(2).mean(0).mul(0.5).sum())
    return total
