"""Gradient signal-to-noise proxies over two mini-batches: ZiCo and MFNAS's filtered proxy.

Both read the cross-entropy weight gradients g₁, g₂ of two mini-batches (training mode). With two
samples per weight, the per-weight statistics are, in float64 (population standard deviation):

* mean |g| = (|g₁| + |g₂|)/2,  |mean g| = |g₁ + g₂|/2,  std g = |g₁ − g₂|/2.
"""

from __future__ import annotations

import math

import torch

from pmfnas.evaluators.proxies.base import ProxyContext, cell_layer_mask, register_proxy

MFNAS_EPS = 1e-12
"""Added to σ in MFNAS's μ/σ. Far below any float32 difference of two gradients of the band's
magnitude, so it only matters for an exact tie g₁ = g₂ (σ = 0), which it keeps finite."""


def _pairs(ctx: ProxyContext) -> list[tuple[torch.Tensor, torch.Tensor]]:
    first, second = ctx.grad_pair()
    return [
        (a.double().flatten(), b.double().flatten()) for a, b in zip(first, second, strict=True)
    ]


@register_proxy("zico", needs=("grad_pair",))
def zico(ctx: ProxyContext) -> float:
    """ZiCo (Li et al., ICLR 2023): Σ_layers log Σ_θ mean|g_θ| / std g_θ.

    Over convolution and linear layers; as in the authors' code, weights with std 0 are left out
    of the inner sum and a layer whose sum is 0 adds nothing. Higher = better.
    """
    score = 0.0
    for g1, g2 in _pairs(ctx):
        mean_abs = (g1.abs() + g2.abs()) / 2
        std = (g1 - g2).abs() / 2
        keep = std > 0
        total = float((mean_abs[keep] / std[keep]).sum())
        if total > 0:
            score += math.log(total)
    return score


def _mfnas_ratios(ctx: ProxyContext) -> list[torch.Tensor]:
    """μ/(σ + ε) of the counted weights of each cell layer (the dominant-band filter).

    Magnitude of a weight: m = mean|g| over the two batches. Bins: the half-decades
    [10^(k/2), 10^((k+1)/2)), i.e. k = ⌊2·log₁₀ m⌋, a fixed grid independent of the network.
    The dominant band is the bin k* holding the most weights of all cell layers together (a tie
    goes to the larger k); weights with m = 0 carry no signal and are never counted.
    """
    cell_pairs = [
        p for p, in_cell in zip(_pairs(ctx), cell_layer_mask(ctx.template), strict=True) if in_cell
    ]
    bins = [torch.floor(2 * torch.log10((g1.abs() + g2.abs()) / 2)) for g1, g2 in cell_pairs]
    finite = torch.cat([b[torch.isfinite(b)] for b in bins]) if bins else torch.empty(0)
    if finite.numel() == 0:
        return []
    values, counts = torch.unique(finite, return_counts=True)
    dominant = values[counts == counts.max()].max()
    ratios = []
    for (g1, g2), b in zip(cell_pairs, bins, strict=True):
        counted = b == dominant
        mu = (g1[counted] + g2[counted]).abs() / 2
        sigma = (g1[counted] - g2[counted]).abs() / 2
        ratios.append(mu / (sigma + MFNAS_EPS))
    return ratios


@register_proxy("mfnas_sum", needs=("grad_pair",))
def mfnas_sum(ctx: ProxyContext) -> float:
    """MFNAS stable proxy (Fu et al., PRICAI 2024), sum variant. Higher = better.

    Rule: take the cross-entropy gradients g₁, g₂ of two mini-batches for every weight of the
    convolutions inside NB201 cells (any network without cells: every convolution). Per weight,
    μ = |g₁ + g₂|/2 and σ = |g₁ − g₂|/2 (mean and population std over the two batches). Keep only
    the weights whose magnitude m = (|g₁| + |g₂|)/2 falls in the dominant half-decade bin: bins are
    [10^(k/2), 10^((k+1)/2)) for integer k, and the dominant bin is the one holding the most
    weights of all cell layers together (ties: the larger k; m = 0 never counts). Each cell
    convolution then contributes log(1 + Σ μ/(σ + ε)) over its kept weights (0 if none is kept),
    ε = ``MFNAS_EPS``, and the score is the sum over cell convolutions.
    """
    return sum(math.log1p(float(r.sum())) for r in _mfnas_ratios(ctx))


@register_proxy("mfnas_mean", needs=("grad_pair",))
def mfnas_mean(ctx: ProxyContext) -> float:
    """MFNAS stable proxy, mean variant: as :func:`mfnas_sum` with log(1 + mean μ/(σ + ε)).

    A cell convolution with no kept weight contributes 0. Higher = better.
    """
    return sum(math.log1p(float(r.mean())) for r in _mfnas_ratios(ctx) if r.numel())
