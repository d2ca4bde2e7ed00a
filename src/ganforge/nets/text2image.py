"""Text-conditional DCGAN (Reed et al., 2016): G(z, e) and the matching-aware D(x, e), e a sentence embedding.

    G = TextToImageGenerator(z_dim=100, text_dim=128, size=32, channels=1, ngf=32)
    D = TextToImageDiscriminator(text_dim=128, size=32, channels=1, ndf=32)
    e = load_text_encoder().encode(["a thin four leaning left"] * 16)    # (16, 128)
    x = G(torch.randn(16, 100), e)                                       # (16, 1, 32, 32) in [-1, 1]
    logits = D(x, e)                                                     # (16,): real *and* matching

As in the paper, the sentence embedding is compressed by a linear layer and a leaky ReLU (to
``proj_dim``) and concatenated to z in G; in D it is compressed the same way, replicated over D's last
4x4 (7x7 at 28 px) feature map, concatenated to it as extra channels, and a 1x1 convolution mixes the two
before the final layer. With ``ca`` (StackGAN's conditioning augmentation, Zhang et al., 2017) G's
projection gives a mean and a log-variance instead, and the condition is drawn from that Gaussian in
training (its mean in eval mode); :meth:`TextToImageGenerator.kl` is the KL term to N(0, I) that keeps
the conditioning manifold smooth. The convolutional bodies are DCGAN's (``nets/dcgan.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator, _check_positive
from ganforge.nets.layers import MinibatchStd2d


def _check_e(e: torch.Tensor | None, text_dim: int, B: int) -> torch.Tensor:
    if e is None or e.ndim != 2 or e.shape != (B, text_dim):
        got = None if e is None else tuple(e.shape)
        raise ValueError(f"sentence embeddings e must have shape ({B}, {text_dim}), got {got}")
    return e


class TextToImageGenerator(nn.Module):
    """z (B, z_dim) and sentence embeddings e (B, text_dim) -> images (B, channels, size, size) in [-1, 1]."""

    def __init__(self, z_dim: int = 100, text_dim: int = 128, proj_dim: int = 64, size: int = 32,
                 channels: int = 1, ngf: int = 32, ca: bool = False) -> None:
        super().__init__()
        _check_positive(z_dim=z_dim, text_dim=text_dim, proj_dim=proj_dim)
        self.z_dim, self.text_dim, self.proj_dim, self.ca = z_dim, text_dim, proj_dim, ca
        self.size, self.channels = size, channels
        self.proj = nn.Linear(text_dim, 2 * proj_dim if ca else proj_dim)
        self.act = nn.LeakyReLU(0.2)
        self.body = DCGANGenerator(z_dim + proj_dim, size, channels, ngf)
        self._kl: torch.Tensor | None = None

    def condition(self, e: torch.Tensor) -> torch.Tensor:
        """(B, proj_dim): the compressed embedding (with ``ca``: a draw from N(mu, sigma^2), its mean in eval
        mode; the draw's KL to N(0, I) is kept for :meth:`kl`)."""
        h = self.proj(e)
        if not self.ca:
            return self.act(h)
        mu, logvar = self.act(h).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        self._kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
        if not self.training:
            return mu
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def kl(self) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, I)) of the last forward's conditioning augmentation (0 without ``ca``)."""
        return self._kl if self._kl is not None else self.proj.weight.new_zeros(())

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        c = self.condition(_check_e(e, self.text_dim, z.shape[0]))
        return self.body(torch.cat([z, c], 1))


class TextToImageDiscriminator(nn.Module):
    """(images (B, C, S, S), sentence embeddings (B, text_dim)) -> logits (B,): high when the image is real and
    matches the sentence (GAN-CLS trains it to call a real image with a wrong sentence fake too)."""

    def __init__(self, text_dim: int = 128, proj_dim: int = 64, size: int = 32, channels: int = 1,
                 ndf: int = 32, norm: str = "batch", projection: bool = False, mbstd: int = 0) -> None:
        super().__init__()
        _check_positive(text_dim=text_dim, proj_dim=proj_dim)
        self.text_dim, self.size, self.channels = text_dim, size, channels
        self.body = DCGANDiscriminator(size, channels, ndf, norm).body  # (B, C_last, side, side)
        c_last = ndf * 2 ** (len([m for m in self.body if isinstance(m, nn.Conv2d)]) - 1)
        self.side = 7 if size == 28 else 4
        # minibatch std (Karras et al., 2018): D sees how varied the batch is, against one image per caption
        self.mbstd = MinibatchStd2d(mbstd) if mbstd else None
        self.proj = nn.Sequential(nn.Linear(text_dim, proj_dim), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(nn.Conv2d(c_last + proj_dim + (1 if mbstd else 0), c_last, 1), nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(c_last, 1, self.side)  # (B, 1, 1, 1)
        # a projection term as Miyato & Koyama's, with the sentence in place of the class: <V e, sum-pooled h>
        self.text_proj = nn.Linear(text_dim, c_last, bias=False) if projection else None
        if self.text_proj is not None:
            nn.init.normal_(self.text_proj.weight, 0.0, 0.02)
        for m in (*self.joint, self.head):
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.size, self.size):
            raise ValueError(f"x must have shape (B, {self.channels}, {self.size}, {self.size}), got {tuple(x.shape)}")
        h = self.body(x)  # (B, C, side, side)
        if self.mbstd is not None:
            h = self.mbstd(h)  # (B, C + 1, side, side)
        t = self.proj(_check_e(e, self.text_dim, B))[:, :, None, None].expand(-1, -1, self.side, self.side)
        logits = self.head(self.joint(torch.cat([h, t], 1))).reshape(B)
        if self.text_proj is not None:
            logits = logits + (self.text_proj(e) * h[:, :self.text_proj.out_features].sum((2, 3))).sum(1)
        return logits
