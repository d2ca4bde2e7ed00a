"""Pixel conventions: the networks take and make images in [-1, 1]; files and data sets hold uint8 [0, 255]."""

from __future__ import annotations

from typing import Any

import torch


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) -> a new float32 tensor in [-1, 1]: x / 127.5 - 1, as the networks take them."""
    return x.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any shape) -> uint8 [0, 255], rounded and clamped."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def make_grid(x: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 0.0) -> torch.Tensor:
    """Images (B, C, H, W) or one (C, H, W) in [0, 1] -> one (3, H', W') picture, ``nrow`` per row, as
    ``torchvision.utils.make_grid`` lays them out (gray made RGB; one image is returned without padding).

    Here so that drawing a grid does not import torchvision (about 3 s on a small CPU)."""
    if x.dim() == 2:
        x = x[None]
    if x.dim() == 3:
        x = x[None]
    if x.shape[1] == 1:
        x = torch.cat([x, x, x], 1)
    if x.shape[0] == 1:
        return x[0]
    b, c, h, w = x.shape
    cols = min(nrow, b)
    rows = -(-b // cols)
    hh, ww = h + padding, w + padding
    grid = x.new_full((c, hh * rows + padding, ww * cols + padding), pad_value)
    for k in range(b):
        y0, x0 = (k // cols) * hh + padding, (k % cols) * ww + padding
        grid[:, y0:y0 + h, x0:x0 + w] = x[k]
    return grid


def save_image(x: torch.Tensor, path: Any, format: str | None = None, **grid: Any) -> None:
    """Write images in [0, 1] (a grid of them, see :func:`make_grid`) as a PNG, rounded as
    ``torchvision.utils.save_image`` rounds them."""
    from PIL import Image

    pic = make_grid(x.detach(), **grid) if (x.dim() == 4 or grid) else make_grid(x.detach())
    arr = pic.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()
    Image.fromarray(arr).save(path, format=format)
