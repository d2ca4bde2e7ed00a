"""MLP generator and discriminator for 2-D data.

    G = MLPGenerator(z_dim=2, width=256, depth=3)      # z (B, z_dim) -> x (B, 2)
    D = MLPDiscriminator(width=256, depth=3, pack=2)   # x (B, 2) -> logits (B / pack,)

The discriminator returns a raw logit (no sigmoid): losses work on logits.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nets.layers import MinibatchStd, draw_noise


class MLPGenerator(nn.Module):
    """Maps noise to points.

    Args:
        z_dim: noise size.
        width: units per hidden layer.
        depth: number of hidden layers (>= 1).
        out_dim: output size (2 for the toys).
        batchnorm: batch norm after each hidden linear layer.
        z_dist: the noise it is trained on, ``"gaussian"`` or ``"uniform"`` (see :meth:`noise`).
    """

    def __init__(self, z_dim: int = 2, width: int = 256, depth: int = 3, out_dim: int = 2,
                 batchnorm: bool = False, z_dist: str = "gaussian") -> None:
        super().__init__()
        self.z_dim, self.z_dist = z_dim, z_dist
        layers: list[nn.Module] = []
        d_in = z_dim
        for _ in range(depth):
            layers += [nn.Linear(d_in, width)]
            if batchnorm:
                layers += [nn.BatchNorm1d(width)]
            layers += [nn.ReLU()]
            d_in = width
        layers += [nn.Linear(d_in, out_dim)]
        self.net = nn.Sequential(*layers)

    def noise(self, n: int, generator: torch.Generator | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` inputs (n, z_dim) from the distribution it was trained on."""
        return draw_noise(n, self.z_dim, self.z_dist, generator=generator, device=device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)  # (B, out_dim)


class MLPDiscriminator(nn.Module):
    """Scores points (or packs of points) with a logit: high = real.

    Args:
        in_dim: size of one sample (2 for the toys).
        width: units per hidden layer.
        depth: number of hidden layers (>= 1).
        pack: PacGAN degree m (Lin et al., 2018): the input batch (B, in_dim) is read as
            B / m packs of m samples concatenated, so D judges m samples jointly. 1 = off.
        mbstd: minibatch-std group size before the output layer (0 = off).
    """

    def __init__(self, in_dim: int = 2, width: int = 256, depth: int = 3, pack: int = 1,
                 mbstd: int = 0) -> None:
        super().__init__()
        self.pack = pack
        layers: list[nn.Module] = []
        d_in = in_dim * pack
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.LeakyReLU(0.2)]
            d_in = width
        self.body = nn.Sequential(*layers)
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        self.head = nn.Linear(d_in + (1 if mbstd else 0), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        x = x.reshape(B // self.pack, -1)  # (B/m, m*in_dim): consecutive samples form a pack
        h = self.body(x)  # (B/m, width)
        if self.mbstd is not None:
            h = self.mbstd(h)  # (B/m, width + 1)
        return self.head(h).squeeze(1)  # (B/m,)
