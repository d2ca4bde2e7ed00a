"""Pixel conventions: the networks take and make images in [-1, 1]; files and data sets hold uint8 [0, 255]."""

from __future__ import annotations

import torch


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) -> a new float32 tensor in [-1, 1]: x / 127.5 - 1, as the networks take them."""
    return x.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any shape) -> uint8 [0, 255], rounded and clamped."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
