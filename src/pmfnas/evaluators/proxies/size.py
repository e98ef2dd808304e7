"""Network size as a proxy: parameters and FLOPs, both in millions. Larger = predicted better.

Parameters are counted on the module. FLOPs are the ones the caller's space counts where it
passes them, the analytic NB201 FLOPs of :mod:`pmfnas.spaces.nb201.costs` for an NB201 cell, and
otherwise counted on the module.
"""

from __future__ import annotations

import numpy as np

from pmfnas.errors import ConfigError
from pmfnas.evaluators.proxies.base import ProxyContext, register_proxy
from pmfnas.spaces.counting import count_flops, count_parameters
from pmfnas.spaces.nb201.costs import params_and_flops


@register_proxy("params")
def params(ctx: ProxyContext) -> float:
    """Number of parameters in millions (every parameter, batch-norm affine included)."""
    return count_parameters(ctx.template) / 1e6


@register_proxy("flops")
def flops(ctx: ProxyContext) -> float:
    """FLOPs in millions of one input image, in NB201's convention (multiply-accumulates)."""
    if ctx.inputs.dim() != 4:
        raise ConfigError("flops needs image batches of shape (N, C, H, W)")
    _, channels, height, width = ctx.inputs.shape
    if height != width:
        raise ConfigError(f"flops needs square inputs, got {height}x{width}")
    if ctx.flops is not None:
        return ctx.flops
    if ctx.cell is None:
        return count_flops(ctx.template, height, channels)
    try:
        _, counted = params_and_flops(
            np.array([ctx.cell]), input_size=height, input_channels=channels, **ctx.network_kwargs
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return float(counted[0])
