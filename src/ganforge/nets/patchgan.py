"""The PatchGAN discriminator (Isola et al., 2017): a grid of real/fake logits, one per overlapping patch.

    D = PatchDiscriminator(in_channels=6, ndf=64, patch=70)     # pix2pix: D sees cat(A, B)
    logits = D(torch.cat([a, b], 1))                             # (B, 6, 256, 256) -> (B, 1, 30, 30)

``patch`` is the receptive field of one output logit: 1 (PixelGAN: 1x1 convolutions), 16, 34, 70
(the paper's default: C64-C128-C256-C512), 142 or 286 (the whole 256 px image). n = 0..5 strided 4x4
convolutions, then a stride-1 4x4 one (2n channels, capped at 8 ndf) and a stride-1 4x4 to one channel.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nets.layers import conv_bias, norm2d

PATCH_LAYERS = {1: 0, 16: 1, 34: 2, 70: 3, 142: 4, 286: 5}  # receptive field -> strided layers


def receptive_field(n_layers: int) -> int:
    """The receptive field of the PatchGAN with ``n_layers`` strided layers (1 for the PixelGAN)."""
    if n_layers == 0:
        return 1
    rf = 1
    for k, s in [(4, 1), (4, 1)] + [(4, 2)] * n_layers:  # walk back from the output logit
        rf = (rf - 1) * s + k
    return rf


def output_side(size: int, n_layers: int) -> int:
    """Side of the logit grid for an input of side ``size``."""
    if n_layers == 0:
        return size
    for _ in range(n_layers):
        size = (size + 2 - 4) // 2 + 1
    for _ in range(2):
        size = size + 2 - 4 + 1
    return size


class PatchDiscriminator(nn.Module):
    """Args:
        in_channels: channels of D's input (pix2pix: channels of A + channels of B; cyclegan: one domain's).
        ndf: channels of the first layer; doubled per layer, capped at 8 ndf.
        patch: receptive field in pixels, one of 1, 16, 34, 70, 142, 286.
        norm: ``batch`` (pix2pix), ``instance`` (cyclegan) or ``none``; never on the first layer.
        size: when given, refuse an image side too small for this patch (a logit grid of side < 1).
    """

    def __init__(self, in_channels: int, ndf: int = 64, patch: int = 70, norm: str = "batch",
                 size: int | None = None) -> None:
        super().__init__()
        if patch not in PATCH_LAYERS:
            raise ValueError(f"patch must be one of {', '.join(map(str, PATCH_LAYERS))} (receptive fields in "
                             f"pixels), got {patch}")
        n = PATCH_LAYERS[patch]
        if size is not None and output_side(size, n) < 1:
            raise ValueError(f"a {patch}x{patch} PatchGAN needs larger images than {size} px; lower model.patch")
        self.patch, self.in_channels = patch, in_channels
        bias = conv_bias(norm)
        if n == 0:  # PixelGAN: 1x1 convolutions, each logit sees one pixel
            layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 1), nn.LeakyReLU(0.2, True),
                                       nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm2d(norm, ndf * 2),
                                       nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * 2, 1, 1)]
        else:
            layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # (B, ndf, S/2, S/2)
            c = ndf
            for i in range(1, n):  # (B, ndf * min(2^i, 8), S / 2^(i+1), ...)
                c_next = ndf * min(2 ** i, 8)
                layers += [nn.Conv2d(c, c_next, 4, 2, 1, bias=bias), norm2d(norm, c_next), nn.LeakyReLU(0.2, True)]
                c = c_next
            c_next = ndf * min(2 ** n, 8)
            layers += [nn.Conv2d(c, c_next, 4, 1, 1, bias=bias), norm2d(norm, c_next), nn.LeakyReLU(0.2, True),
                       nn.Conv2d(c_next, 1, 4, 1, 1)]  # (B, 1, S', S'): one logit per patch
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"this PatchGAN takes {self.in_channels}-channel input, got {tuple(x.shape)}")
        return self.net(x)  # (B, 1, S', S') logits
