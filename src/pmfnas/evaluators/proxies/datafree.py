"""Proxies that ignore the data and the labels: SynFlow and Zen-score.

They read only the input shape, so they are the same for any batch of that shape.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from pmfnas.errors import ConfigError
from pmfnas.evaluators.proxies.base import ProxyContext, register_proxy, weighted_layers

SYNFLOW_RESCUE_SCALE = 2.0**-512
"""Scale of the input and of the output gradient in SynFlow's second try, when the first
overflows float64 (see :func:`synflow`)."""

ZEN_MIXUP = 1e-2
"""Size of Zen-score's input perturbation (the paper's and NASLib's mixup_gamma)."""


def _strip_batchnorm(net: nn.Module) -> None:
    """Replace every batch norm by the identity, as NASLib builds the network for SynFlow."""
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, _BatchNorm):
                setattr(module, name, nn.Identity())


def _synflow_sum(net: nn.Module, like: torch.Tensor, scale: float) -> float:
    """scale²·S, S = Σ θ ⊙ ∂R/∂θ over layer weights, R = Σ net(1) for one input shaped as ``like``.

    Computed with the input ``scale``·1 and the output gradient ``scale``, so that a small scale
    keeps both the forward activations and the backward products of weights finite. The
    weights must already be positive.
    """
    weights = [m.weight for m in weighted_layers(net)]
    shape = (1, *like.shape[1:])
    out = net(torch.full(shape, scale, dtype=torch.float64, device=like.device))
    if not weights or not out.requires_grad:
        return 0.0  # no weight reaches the output
    grads = torch.autograd.grad(out, weights, torch.full_like(out, scale), allow_unused=True)
    return float(
        sum((w.detach() * g).sum() for w, g in zip(weights, grads, strict=True) if g is not None)
    )


@register_proxy("synflow", work=(0.0, 3.0))  # one image, forward and backward
def synflow(ctx: ProxyContext) -> float:
    """SynFlow (Tanaka et al. 2020) as in Abdelfattah et al./NASLib, reported as log(1 + S).

    S = Σ_layers Σ |θ ⊙ ∂R/∂θ| over convolution and linear weights, where the network has its
    batch norms removed (NASLib's ``bn=False``), all parameters replaced by their absolute values,
    runs in float64 in eval mode, and R is the sum of its outputs for one all-ones input of the
    batch's shape. S spans tens of orders of magnitude across networks; log(1 + S) keeps the
    ranking, fits float32 tables and is 0 when no weight reaches the output (all-``none`` cells).
    If S overflows float64 (S > 1.8e308), the input and the output gradient are both scaled by
    s = ``SYNFLOW_RESCUE_SCALE`` and log S = log(s²S) − 2 log s: S is linear in each in networks
    without hidden biases (NB201's only bias, the classifier's, does not enter ∂R/∂θ). This
    covers S up to about 1e460; NB201 networks at the standard sizes have S < 1e30.
    Higher = better.
    """
    net = ctx.network()
    _strip_batchnorm(net)
    net.double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    total = _synflow_sum(net, ctx.inputs, 1.0)
    if math.isfinite(total):
        return math.log1p(total)
    rescued = _synflow_sum(net, ctx.inputs, SYNFLOW_RESCUE_SCALE)
    return math.log(rescued) - 2 * math.log(SYNFLOW_RESCUE_SCALE)


def _gaussian_init(net: nn.Module, generator: torch.Generator) -> None:
    """Zen-NAS's initialisation: N(0, 1) weights, zero biases, batch norm γ = 1 and β = 0."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.normal_(m.weight, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, _BatchNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


@register_proxy("zen", work=(2.0, 0.0))  # two forward passes of the batch
def zen(ctx: ProxyContext) -> float:
    """Zen-score (Lin et al., ICCV 2021), one repeat as in NASLib. Higher = better.

    With Gaussian weights, Gaussian inputs x and ε (seeded) and the network in training mode,
    score = log E_n Σ |f(x) − f(x + 0.01 ε)| + Σ_BN log √(mean running variance), where f is the
    feature map entering the last global average pooling. The running variances are read after
    the two forward passes with PyTorch's default momentum, as NASLib's implementation does. A
    feature map that does not move at all (all-``none`` cells) scores as if it moved by the
    smallest normal float32 instead of log 0.
    """
    net = ctx.network()
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise ConfigError("zen needs a network with global average pooling (nn.AdaptiveAvgPool2d)")
    generator = torch.Generator(device=ctx.inputs.device).manual_seed(ctx.seed)
    _gaussian_init(net, generator)
    net.train()
    x = torch.randn(ctx.inputs.shape, generator=generator, device=ctx.inputs.device)
    noise = torch.randn(ctx.inputs.shape, generator=generator, device=ctx.inputs.device)
    features: list[torch.Tensor] = []
    handle = pools[-1].register_forward_pre_hook(lambda _m, args: features.append(args[0]))
    try:
        with torch.no_grad():
            net(x)
            net(x + ZEN_MIXUP * noise)
    finally:
        handle.remove()
    moved = float((features[0] - features[1]).abs().flatten(1).sum(1).double().mean())
    log_bn = sum(
        0.5 * math.log(float(m.running_var.double().mean()))
        for m in net.modules()
        if isinstance(m, _BatchNorm) and m.running_var is not None
    )
    return math.log(max(moved, torch.finfo(torch.float32).tiny)) + log_bn
