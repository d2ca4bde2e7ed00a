"""The ResNet generator of CycleGAN (Zhu et al., 2017; after Johnson et al., 2016).

    G = ResnetGenerator(size=32, in_channels=3, out_channels=3, ngf=32, blocks=3)
    fake = G(x)              # x (B, 3, 32, 32) in [-1, 1] -> (B, 3, 32, 32) in [-1, 1]

c7s1-ngf, d(2 ngf), d(4 ngf), R(4 ngf) x blocks, u(2 ngf), u(ngf), c7s1-out with tanh: 6 blocks at 128 px
and 9 at 256 px in the paper. Fully convolutional; ``size`` is checked so that the two halvings are exact.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nets.layers import ResnetBlock, conv_bias, norm2d


class ResnetGenerator(nn.Module):
    """Args:
        size: image side: a multiple of 4 >= 8 (two stride-2 halvings, undone exactly).
        in_channels, out_channels: image channels of the input and output domains.
        ngf: channels after the first 7x7 convolution.
        blocks: residual blocks at 1/4 resolution (>= 0).
        norm: ``instance`` (the paper's), ``batch`` or ``none``.
    """

    def __init__(self, size: int, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, blocks: int = 9,
                 norm: str = "instance") -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 4:
            raise ValueError(f"ResNet generator image size must be a multiple of 4 >= 8, got {size}")
        if blocks < 0:
            raise ValueError(f"blocks must be >= 0, got {blocks}")
        self.size, self.in_channels, self.out_channels = size, in_channels, out_channels
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm2d(norm, ngf), nn.ReLU(True)]  # (B, ngf, S, S)
        for k in (1, 2):  # (B, 2 ngf, S/2, S/2), (B, 4 ngf, S/4, S/4)
            layers += [nn.Conv2d(ngf * k, ngf * 2 * k, 3, 2, 1, bias=bias), norm2d(norm, ngf * 2 * k), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(blocks)]  # (B, 4 ngf, S/4, S/4)
        for k in (2, 1):  # (B, 2 ngf, S/2, S/2), (B, ngf, S, S)
            layers += [nn.ConvTranspose2d(ngf * 2 * k, ngf * k, 3, 2, 1, output_padding=1, bias=bias),
                       norm2d(norm, ngf * k), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]  # (B, C_out, S, S)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"this ResNet generator takes (B, {self.in_channels}, H, W) images with H and W "
                             f"multiples of 4, got {tuple(x.shape)}")
        return self.net(x)
