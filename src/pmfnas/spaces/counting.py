"""Sizes of any torch network, counted the way NAS-Bench-201 recorded them: parameters and FLOPs.

Shared by every space (its networks' sizes), the size proxies and the export.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, as NB201 counted them (every parameter, batch-norm affine included)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: int, input_channels: int = 3) -> float:
    """FLOPs in millions of one ``input_size``² image, in NB201's convention.

    NB201 counted multiply-accumulates of convolutions and linear layers plus one addition per
    output of a layer with a bias; pooling, batch norm, activations and sums count nothing.
    ``FlopCounterMode`` counts 2 per multiply-accumulate and ignores biases, so this halves its
    total and adds the bias outputs, found with forward hooks.
    """
    bias_adds = 0

    def add_bias(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal bias_adds
        bias_adds += output.numel()

    hooks = [
        m.register_forward_hook(add_bias)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None
    ]
    was_training = model.training
    model.eval()  # batch norm cannot take one image per batch in training mode
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, input_channels, input_size, input_size))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return (counter.get_total_flops() / 2 + bias_adds) / 1e6
