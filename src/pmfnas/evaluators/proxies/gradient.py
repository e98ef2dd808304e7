"""Pruning-at-initialisation saliencies summed over layers (Abdelfattah et al., ICLR 2021; NASLib).

Each is computed on the convolution and linear weights of the network in training mode, from the
cross-entropy loss of one batch, per layer, and summed over the layers. Higher = better for all
four, as in NASLib's tables.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pmfnas.evaluators.proxies.base import ProxyContext, register_proxy, weighted_layers
from pmfnas.evaluators.proxies.passes import check_targets


@register_proxy("grad_norm", needs=("grads",))
def grad_norm(ctx: ProxyContext) -> float:
    """Σ_layers ‖∂L/∂W‖₂ (Frobenius norm of each layer's weight gradient). Higher = better."""
    return float(sum(g.double().norm() for g in ctx.grads()))


@register_proxy("snip", needs=("grads",))
def snip(ctx: ProxyContext) -> float:
    """SNIP (Lee et al. 2019): Σ |θ ⊙ ∂L/∂θ| over all layer weights. Higher = better."""
    layers = weighted_layers(ctx.template)
    return float(
        sum(
            (m.weight.detach() * g).abs().double().sum()
            for m, g in zip(layers, ctx.grads(), strict=True)
        )
    )


@register_proxy("fisher", needs=("fisher",))
def fisher(ctx: ProxyContext) -> float:
    """Fisher (Turner et al. 2020) as in NASLib: Σ_layers Σ_k w_k·½·mean_n(Σ_hw a·∂L/∂a)².

    ``a`` is the output channel k of each convolution / linear layer and w_k the number of
    weights of that channel (NASLib broadcasts each channel's value to its weights, then sums).
    Higher = better.
    """
    return float(ctx.feature("fisher"))


@register_proxy("grasp", work=(5.0, 0.0))  # a training step and a second backward
def grasp(ctx: ProxyContext) -> float:
    """GraSP (Wang et al. 2020): Σ −θ ⊙ (H g), g = ∂L/∂θ, H the Hessian over layer weights.

    One forward pass; ``H g`` is the gradient of ``g.detach() · g(θ)`` (a Hessian-vector product by
    double backward), as in Abdelfattah et al. with one data split and temperature 1.
    Higher = better (NASLib's sign).
    """
    net = ctx.network()
    net.train()
    weights = [m.weight for m in weighted_layers(net)]
    logits = net(ctx.inputs)
    check_targets(ctx.targets, logits)
    loss = F.cross_entropy(logits, ctx.targets)
    grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    used = [(w, g) for w, g in zip(weights, grads, strict=True) if g is not None]
    z = sum((g.detach() * g).sum() for _, g in used)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return 0.0  # no weight reaches the loss: nothing to prune, no curvature
    hess_grads = torch.autograd.grad(z, [w for w, _ in used], allow_unused=True)
    return float(
        sum(
            -(w.detach() * hg).double().sum()
            for (w, _), hg in zip(used, hess_grads, strict=True)
            if hg is not None
        )
    )
