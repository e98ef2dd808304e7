"""Proxies from the activations of one batch: NASWOT, Jacobian covariance and MeCo.

None of them uses the labels. All read the shared training-mode forward pass of the first batch.
"""

from __future__ import annotations

import torch

from pmfnas.evaluators.proxies.base import ProxyContext, register_proxy
from pmfnas.evaluators.proxies.passes import row_correlation

JACOV_K = 1e-5
"""The regulariser k of Mellor et al.'s Jacobian covariance score."""


@register_proxy("nwot", needs=("codes",))
def nwot(ctx: ProxyContext) -> float:
    """NASWOT (Mellor et al., ICML 2021): log|K + I| of the ReLU-code agreement kernel.

    Every ``nn.ReLU`` turns its input into a binary code (x > 0) per sample; K[i, j] counts the
    units on which samples i and j agree (N_A minus the Hamming distance), summed over ReLUs. The
    paper scores log|K|; the unit ridge I is negligible next to K's entries (counts of units, in
    the hundreds of thousands for NB201 networks) and keeps a singular K finite (e.g. the
    all-``none`` cell, whose samples all share one code).
    Higher = better.
    """
    kernel = ctx.feature("kernel")
    eye = torch.eye(kernel.shape[0], dtype=kernel.dtype, device=kernel.device)
    return float(torch.linalg.slogdet(kernel + eye).logabsdet)


@register_proxy("jacov", needs=("jacobian",))
def jacov(ctx: ProxyContext) -> float:
    """Jacobian covariance (Mellor et al. 2020, v1), in NASLib's sign: higher = better.

    J holds, per sample, the gradient of the summed logits with respect to the input; with the
    eigenvalues λ of the correlation matrix of J's rows, the score is −Σ (log(λ + k) + 1/(λ + k)),
    k = ``JACOV_K``. A sample whose Jacobian is constant has no defined correlation; it counts as
    fully correlated with every sample (the worst case), and eigenvalues are clipped at 0 (a
    correlation matrix has none below; clipping removes round-off and that case's artefacts).
    """
    jac = ctx.feature("jacobian")
    corr = row_correlation(jac)
    constant = corr.diagonal() == 0
    corr[constant, :] = 1.0
    corr[:, constant] = 1.0
    eig = torch.linalg.eigvalsh(corr).clamp(min=0) + JACOV_K
    return float(-(eig.log() + 1 / eig).sum())


@register_proxy("meco", needs=("meco",))
def meco(ctx: ProxyContext) -> float:
    """MeCo (Jiang et al., NeurIPS 2023): Σ over modules of λ_min of the channel correlation.

    As in the authors' code, every module's output is hooked, the feature map of the first sample
    of the batch is taken (channels × positions), constant channels get zero correlations, and
    the smallest eigenvalue of each Pearson correlation matrix is summed. Outputs that are not 4-D
    feature maps (logits, pooled vectors) add 0 there and are skipped here. All channels are
    used (the paper's MeCo, not the 8-channel MeCo_opt): the correlation matrices are at most
    64 × 64 for NB201, and their eigenvalues take a few tens of milliseconds. Higher = better.
    """
    return float(sum(ctx.feature("meco")))
