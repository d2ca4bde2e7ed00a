"""Blocks shared by several networks."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStd(nn.Module):
    """Append the average across-batch standard deviation as one extra feature (Karras et al., 2018).

    Args:
        group: samples per group; the std is taken within groups of this many consecutive
            samples, so a discriminator can see how varied a group is. The batch size must be
            a multiple (consecutive grouping keeps a concatenated [real; fake] batch unmixed).
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, F = h.shape  # (B, F)
        g = min(self.group, B)
        y = h.reshape(B // g, g, F)  # (B/g, g, F): consecutive samples form a group
        var = (y - y.mean(1, keepdim=True)).pow(2).mean(1)  # (B/g, F); 6x faster on CPU than y.var(1)
        std = (var + 1e-8).sqrt().mean(1, keepdim=True)  # (B/g, 1)
        std = std.repeat_interleave(g, 0)  # (B, 1), each sample gets its group's value
        return torch.cat([h, std], 1)  # (B, F + 1)


class MinibatchStd2d(nn.Module):
    """Minibatch-std for feature maps: append one channel holding the group's average std (Karras et al., 2018).

    The std of every feature (channel, row, column) is taken across each group of consecutive
    samples, averaged over C, H and W into one number per group, and broadcast to an extra
    H x W channel, so a convolutional discriminator can see how varied a group is.

    Args:
        group: samples per group; the effective group is min(group, B), which must divide the
            batch size B (consecutive grouping keeps a concatenated [real; fake] batch unmixed).
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        if group < 1:
            raise ValueError(f"MinibatchStd2d group must be >= 1, got {group}")
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, C, H, W = h.shape  # (B, C, H, W)
        g = min(self.group, B)
        if B % g:
            raise ValueError(f"minibatch-std group size {g} must divide the batch size, got batch size {B}")
        y = h.reshape(B // g, g, C, H, W)  # (B/g, g, C, H, W): consecutive samples form a group
        var = (y - y.mean(1, keepdim=True)).pow(2).mean(1)  # (B/g, C, H, W)
        std = (var + 1e-8).sqrt().mean((1, 2, 3))  # (B/g,)
        std = std.repeat_interleave(g, 0).reshape(B, 1, 1, 1).expand(B, 1, H, W)  # (B, 1, H, W)
        return torch.cat([h, std], 1)  # (B, C + 1, H, W)


NORMS = ("batch", "instance", "none")


def norm2d(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer by name: ``batch``, ``instance`` (no affine parameters, as in the
    pix2pix / CycleGAN code) or ``none`` (identity)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


def conv_bias(norm: str) -> bool:
    """Whether a convolution before ``norm`` needs a bias: batch norm's shift makes it redundant."""
    return norm != "batch"


class ResnetBlock(nn.Module):
    """x + (reflect-pad, 3x3 conv, norm, ReLU, reflect-pad, 3x3 conv, norm)(x) (He et al., 2016; the
    residual block of Johnson et al.'s and CycleGAN's generators). Keeps (B, C, H, W).

    Args:
        channels: C, in and out.
        norm: ``batch``, ``instance`` or ``none``.
    """

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm2d(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm2d(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (B, C, H, W)
