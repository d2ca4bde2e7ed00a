"""The U-Net generator of pix2pix (Isola et al., 2017): an encoder-decoder with skip connections.

    G = UNetGenerator(size=32, in_channels=3, out_channels=3, ngf=32)
    fake = G(x)              # x (B, 3, 32, 32) in [-1, 1] -> (B, 3, 32, 32) in [-1, 1]

The encoder halves the image log2(size) times, down to 1x1 (8 levels at 256 px, as in the paper's
C64-C128-C256-C512-C512-C512-C512-C512); decoder level i gets the encoder's level-i features
concatenated (the skips), so low-level structure (edges, the unmasked pixels) passes straight through.
pix2pix gives G no noise vector: dropout in the first three decoder layers is its only noise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.nets.layers import conv_bias, norm2d


def check_size(size: int, what: str = "U-Net") -> int:
    """The number of halvings for a power-of-two ``size`` >= 8; a ValueError naming the size otherwise."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"{what} image size must be a power of two >= 8 (each level halves it down to 1x1), "
                         f"got {size}")
    return int(math.log2(size))


class UNetGenerator(nn.Module):
    """Encoder Ck = 4x4 conv stride 2 (LeakyReLU 0.2 before it, norm after; none on the first and innermost
    layers), decoder = ReLU, 4x4 transposed conv stride 2, norm, dropout (first three decoder layers), tanh out.

    Args:
        size: image side, a power of two >= 8 (other sizes are refused: the encoder must reach 1x1).
        in_channels, out_channels: image channels of A (input) and B (output).
        ngf: channels of the first encoder layer; level i has ngf * min(2^i, 8).
        norm: ``batch`` (the paper's), ``instance`` or ``none``.
        dropout: dropout probability in the first three decoder layers (0.5 in the paper; 0 = none).
    """

    def __init__(self, size: int, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "batch",
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.size, self.in_channels, self.out_channels = size, in_channels, out_channels
        depth = check_size(size)
        ch = [ngf * min(2 ** i, 8) for i in range(depth)]  # output channels of encoder level i
        bias = conv_bias(norm)
        self.down = nn.ModuleList()
        for i in range(depth):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            inner = i == depth - 1
            layers.append(nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, 2, 1,
                                    bias=bias or i == 0 or inner))
            if 0 < i < depth - 1:  # none on the image and at 1x1 (instance norm of one pixel is undefined)
                layers.append(norm2d(norm, ch[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in range(depth):  # up[i] undoes down[i]: input ch[i] (innermost) or 2 * ch[i] (with the skip)
            c_in = ch[i] if i == depth - 1 else 2 * ch[i]
            layers = [nn.ReLU(True)]
            if i == 0:
                layers += [nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers += [nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=bias), norm2d(norm, ch[i - 1])]
                if dropout > 0 and i >= depth - 3:  # the first three decoder layers (CD512 in the paper)
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size) or x.shape[1] != self.in_channels:
            raise ValueError(f"this U-Net takes (B, {self.in_channels}, {self.size}, {self.size}) images, "
                             f"got {tuple(x.shape)}")
        skips = []
        h = x  # (B, C_A, S, S)
        for down in self.down:
            h = down(h)  # level i: (B, ch[i], S / 2^(i+1), S / 2^(i+1)); innermost (B, ch[-1], 1, 1)
            skips.append(h)
        for i in reversed(range(len(self.up))):
            if i < len(self.up) - 1:
                h = torch.cat([h, skips[i]], 1)  # (B, 2 ch[i], ...): the skip connection
            h = self.up[i](h)
        return h  # (B, C_B, S, S) in [-1, 1]
