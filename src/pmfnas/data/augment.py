"""Batched tensor transforms: random crop with zero padding, random horizontal flip, cutout,
resizing.

The NB201 recipe (``RandomCrop(size, padding)`` + ``RandomHorizontalFlip``) and DARTS' cutout
applied to a whole batch at once, without torchvision or per-image Python loops. Random draws
come from one generator in a fixed order (crop offsets, then flips; cutout centres), so a seeded
generator gives the same output on every run and on every device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop_flip(
    images: Tensor,
    generator: torch.Generator | None = None,
    *,
    padding: int = 4,
    flip: bool = True,
) -> Tensor:
    """Randomly crop and flip each image of an ``(N, C, H, W)`` batch; shape and dtype are kept.

    Each image is padded with ``padding`` zeros (black, before normalisation, as torchvision
    pads) on every side and cut back to ``H x W`` at a uniform random offset in
    ``0 .. 2 * padding`` per axis; with ``flip`` it is then mirrored left-right with
    probability 1/2. Offsets and flips are drawn on the generator's device and moved to the
    batch's, so a CPU generator serves a CUDA batch.
    """
    n, _, height, width = images.shape
    device = generator.device if generator is not None else torch.device("cpu")
    out = images
    if padding > 0:
        span = 2 * padding + 1
        dy = torch.randint(span, (n,), generator=generator, device=device).to(images.device)
        dx = torch.randint(span, (n,), generator=generator, device=device).to(images.device)
        padded = F.pad(images, (padding, padding, padding, padding))
        # every H x W window of each padded image, as a view: (N, span, span, C, H, W)
        windows = padded.unfold(2, height, 1).unfold(3, width, 1).permute(0, 2, 3, 1, 4, 5)
        out = windows[torch.arange(n, device=images.device), dy, dx]
    if flip:
        mirror = torch.rand(n, generator=generator, device=device) < 0.5
        out = torch.where(mirror.to(images.device)[:, None, None, None], out.flip(3), out)
    return out


def cutout(images: Tensor, length: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero one square of each image of an ``(N, C, H, W)`` batch (all channels), as DARTS'
    cutout does: its centre uniform over the pixels (rows, then columns drawn), its sides
    ``length // 2`` either way of the centre, clipped at the image's borders (so a square near a
    border is smaller, and an odd ``length`` loses a pixel, as in DARTS). Draws are made on the
    generator's device and moved to the batch's."""
    n, _, height, width = images.shape
    device = generator.device if generator is not None else torch.device("cpu")
    half = length // 2
    masks = []
    for side in (height, width):
        centre = torch.randint(side, (n, 1), generator=generator, device=device)
        pixels = torch.arange(side, device=device)
        masks.append(((pixels >= centre - half) & (pixels < centre + half)).to(images.device))
    square = masks[0][:, :, None] & masks[1][:, None, :]
    return images.masked_fill(square[:, None], 0)


def resize(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """``(N, C, H, W)`` images resized to ``size x size`` (antialiased bilinear), dtype kept.

    The input-resolution fidelity knob: done once per dataset, in chunks to bound memory;
    ``uint8`` images are rounded back to ``uint8``.
    """
    if images.shape[-2:] == (size, size):
        return images
    parts = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True)
        parts.append(
            part.round().clamp(0, 255).to(images.dtype)
            if not images.is_floating_point()
            else part.to(images.dtype)
        )
    return torch.cat(parts) if parts else images.new_zeros((0, images.shape[1], size, size))
