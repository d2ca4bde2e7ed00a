"""BigGAN generator and discriminator (Brock et al., 2019), scaled for a CPU; class-conditional.

    G = BigGANGenerator(z_dim=120, size=32, channels=1, ngf=32, num_classes=10)  # G(z, c): z (B, 120), c (B,)
    D = BigGANDiscriminator(size=32, channels=1, ndf=32, num_classes=10)         # D(x, c) -> logits (B,)
    x = G(torch.randn(64, 120), torch.randint(0, 10, (64,)))                      # (64, 1, 32, 32) in [-1, 1]
    loss_G = loss_G + 1e-4 * orthogonal_penalty(G)                                # the paper's beta = 1e-4

What makes it BigGAN rather than an SN-GAN: residual up/down blocks; hierarchical latents (z is cut
into one chunk per block plus one for the stem); one *shared* class embedding, concatenated with
each block's z chunk into the conditioning vector of that block's class-conditional batch norms;
spectral norm in both G and D; orthogonal initialisation; the modified orthogonal regularisation
(:func:`orthogonal_penalty`); a projection discriminator (Miyato & Koyama, 2018). Left out: the
truncation trick (a sampling choice: draw z from a truncated normal), self-attention, the deeper
"BigGAN-deep" blocks. D returns a raw logit (no sigmoid).

Sizes: 28 px starts G at 7x7 with 2 up blocks (7 -> 14 -> 28); 32 and 64 px start at 4x4 with
log2(size / 4) blocks (3 and 4). D mirrors this with down blocks. With z_dim=120, ngf=ndf=32,
channels 1 and 10 classes: G has 965,249 parameters at 32 px (504,321 at 28 px), D 298,337
at 32 px (67,873 at 28 px).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.nets.dcgan import _check_labels, _check_positive

SIZES = (28, 32, 64)


def _check_size(size: int) -> None:
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(map(repr, SIZES))}, got {size!r}")


def _n_blocks(size: int) -> int:
    """Resolution doublings between the smallest map (7x7 for 28 px, else 4x4) and the image."""
    return 2 if size == 28 else (size // 4).bit_length() - 1  # 32 -> 3, 64 -> 4


def z_chunks_for(size: int) -> int:
    """How many equal chunks G cuts z into at ``size``: one per block plus one for the stem."""
    return _n_blocks(size) + 1


def _check_c(num_classes: int, c: torch.Tensor | None, B: int) -> None:
    _check_labels(num_classes, c, B)  # missing labels, wrong shape
    if c.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels c must be integer class indices (int64), got dtype {c.dtype}")


def _sn(module: nn.Module) -> nn.Module:
    """Orthogonal init (BigGAN's "ortho"), zero bias, then spectral norm: its power iteration starts from these
    weights."""
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module)


def _conv(c_in: int, c_out: int, kernel: int) -> nn.Module:
    """An SN convolution that keeps the side (padding kernel // 2)."""
    return _sn(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2))


class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional batch norm (de Vries et al., 2017; BigGAN's ccbn): normalise each channel over the
    batch and the pixels without learned affine parameters, then scale by ``1 + gain(y)`` and shift by
    ``bias(y)``, both per sample and channel, from the conditioning vector y through SN linear layers
    (no bias, as BigGAN's: the "1 +" makes the initial scale about 1).

    Args:
        num_features: channels C of the feature map.
        cond_dim: size of the conditioning vector y (BigGAN: shared class embedding + this block's z chunk).
    """

    def __init__(self, num_features: int, cond_dim: int) -> None:
        super().__init__()
        _check_positive(num_features=num_features, cond_dim=cond_dim)
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = _sn(nn.Linear(cond_dim, num_features, bias=False))
        self.bias = _sn(nn.Linear(cond_dim, num_features, bias=False))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(y)[:, :, None, None]  # (B, C, 1, 1)
        bias = self.bias(y)[:, :, None, None]  # (B, C, 1, 1)
        return self.bn(x) * gain + bias  # (B, C, H, W)


class GBlock(nn.Module):
    """BigGAN's residual up block: (B, c_in, H, W), y (B, cond_dim) -> (B, c_out, 2H, 2W).

    Main path: CBN -> ReLU -> nearest x2 -> SN conv3x3 -> CBN -> ReLU -> SN conv3x3. Shortcut: nearest x2,
    then an SN conv1x1 when the channels change (else identity).

    Args:
        c_in, c_out: channels in and out.
        cond_dim: size of the conditioning vector of the two CBNs.
    """

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, cond_dim)
        self.conv1 = _conv(c_in, c_out, 3)
        self.bn2 = ConditionalBatchNorm2d(c_out, cond_dim)
        self.conv2 = _conv(c_out, c_out, 3)
        self.shortcut = _conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")  # (B, c_in, 2H, 2W)
        h = self.conv1(h)  # (B, c_out, 2H, 2W)
        h = self.conv2(F.relu(self.bn2(h, y)))
        # a 1x1 conv commutes with nearest upsampling: convolving first is the same function, 4x cheaper
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")  # (B, c_out, 2H, 2W)


class DBlock(nn.Module):
    """BigGAN's residual down block: (B, c_in, H, W) -> (B, c_out, H/2, W/2).

    Main path: [ReLU] -> SN conv3x3 -> ReLU -> SN conv3x3 -> avgpool 2. Shortcut: SN conv1x1 and avgpool 2.

    Args:
        c_in, c_out: channels in and out.
        preactivation: start the main path with a ReLU (False for the first block, which sees the image).
    """

    def __init__(self, c_in: int, c_out: int, preactivation: bool = True) -> None:
        super().__init__()
        self.preactivation = preactivation
        self.conv1 = _conv(c_in, c_out, 3)
        self.conv2 = _conv(c_out, c_out, 3)
        self.shortcut = _conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))  # (B, c_out, H, W)
        h = F.avg_pool2d(h, 2)  # (B, c_out, H/2, W/2)
        # a 1x1 conv commutes with average pooling: pool first on the wide maps (the same function, cheaper)
        return h + self.shortcut(F.avg_pool2d(x, 2))  # (B, c_out, H/2, W/2)


class BigGANGenerator(nn.Module):
    """Maps noise and a class label to an image in [-1, 1].

    Shapes for size 32 (L = 3 blocks; 64 px has 4; 28 px starts at 7x7 with 2), ngf = 32:
    z (B, z_dim) -> L + 1 chunks of z_dim / (L + 1); chunk 0 -> SN linear -> (B, ngf*8, 4, 4)
    -> (B, ngf*4, 8, 8) -> (B, ngf*2, 16, 16) -> (B, ngf, 32, 32) -> BN, ReLU, SN conv3x3, tanh
    -> (B, channels, 32, 32). Block i is conditioned on cat(shared(c), chunk i + 1).

    Args:
        z_dim: noise size; must be divisible by the number of chunks L + 1 (3 for 28 px, 4 for 32, 5 for 64;
            the default 120 divides by all three).
        size: image side in pixels: 28, 32 or 64.
        channels: image channels (1 gray, 3 RGB).
        ngf: width: channels of the last block's output; each block towards the noise has twice as many,
            so the stem's map has ngf * 2^L.
        num_classes: number of classes (>= 1; BigGAN is always conditional, forward needs c).
        shared_dim: size of the shared class embedding, concatenated with each block's z chunk.

    Attributes:
        z_chunks: the number of chunks z is cut into (L + 1).
    """

    def __init__(self, z_dim: int = 120, size: int = 32, channels: int = 1, ngf: int = 32, num_classes: int = 10,
                 shared_dim: int = 128) -> None:
        super().__init__()
        _check_size(size)
        _check_positive(z_dim=z_dim, channels=channels, ngf=ngf, num_classes=num_classes, shared_dim=shared_dim)
        L = _n_blocks(size)
        self.z_chunks = z_chunks_for(size)
        if z_dim % self.z_chunks:
            raise ValueError(f"z_dim must be divisible by the number of z chunks ({self.z_chunks} for size {size}: "
                             f"one per block plus one for the stem), got z_dim={z_dim}")
        self.z_dim, self.size, self.channels, self.num_classes = z_dim, size, channels, num_classes
        self.chunk = z_dim // self.z_chunks
        self.s0 = 7 if size == 28 else 4
        self.ch0 = ngf * 2 ** L

        self.shared = nn.Embedding(num_classes, shared_dim)  # one for the whole G, no spectral norm
        nn.init.orthogonal_(self.shared.weight)
        self.linear = _sn(nn.Linear(self.chunk, self.ch0 * self.s0 * self.s0))
        cond_dim = shared_dim + self.chunk
        self.blocks = nn.ModuleList(GBlock(ngf * 2 ** (L - i), ngf * 2 ** (L - i - 1), cond_dim) for i in range(L))
        self.out_bn = nn.BatchNorm2d(ngf)
        self.out_conv = _conv(ngf, channels, 3)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        B = z.shape[0]
        _check_c(self.num_classes, c, B)
        zs = torch.split(z, self.chunk, 1)  # z_chunks x (B, chunk)
        y = self.shared(c)  # (B, shared_dim)
        h = self.linear(zs[0]).view(B, self.ch0, self.s0, self.s0)  # (B, ngf*2^L, 4, 4); 7x7 for 28 px
        for block, zk in zip(self.blocks, zs[1:], strict=True):
            h = block(h, torch.cat([y, zk], 1))  # (B, C/2, 2H, 2W)
        h = self.out_conv(F.relu(self.out_bn(h)))  # (B, channels, size, size)
        return torch.tanh(h)


class BigGANDiscriminator(nn.Module):
    """Scores an image and its label with a logit: high = real. A projection discriminator.

    Shapes for size 32 (L = 3 blocks; 64 px has 4; 28 px has 2, down to 7x7), ndf = 32:
    x (B, channels, 32, 32) -> (B, ndf, 16, 16) -> (B, ndf*2, 8, 8) -> (B, ndf*4, 4, 4) -> ReLU, sum over
    space -> h (B, ndf*4) -> logits = linear(h) + <embed(c), h> (B,). No batch norm, spectral norm everywhere.

    Args:
        size: image side in pixels: 28, 32 or 64.
        channels: image channels (1 gray, 3 RGB).
        ndf: width: channels of the first block; each block doubles them (the last has ndf * 2^(L-1)).
        num_classes: number of classes (>= 1; forward needs c).
    """

    def __init__(self, size: int = 32, channels: int = 1, ndf: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        _check_size(size)
        _check_positive(channels=channels, ndf=ndf, num_classes=num_classes)
        self.size, self.channels, self.num_classes = size, channels, num_classes
        L = _n_blocks(size)
        chs = [channels] + [ndf * 2**i for i in range(L)]
        self.blocks = nn.Sequential(*(DBlock(chs[i], chs[i + 1], preactivation=i > 0) for i in range(L)))
        self.linear = _sn(nn.Linear(chs[-1], 1))  # psi(h)
        self.embed = _sn(nn.Embedding(num_classes, chs[-1]))  # V: one row per class

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.size, self.size):
            raise ValueError(f"x must have shape (B, {self.channels}, {self.size}, {self.size}), "
                             f"got {tuple(x.shape)}")
        _check_c(self.num_classes, c, x.shape[0])
        h = self.blocks(x)  # (B, ndf*2^(L-1), 4, 4); 7x7 for 28 px
        h = F.relu(h).sum((2, 3))  # (B, F): global sum pooling
        return self.linear(h).squeeze(1) + (self.embed(c) * h).sum(1)  # (B,)


def orthogonal_penalty(module: nn.Module) -> torch.Tensor:
    """BigGAN's modified orthogonal regularisation (Brock et al., 2019, sec. 3.1), without the beta.

    Sum over the conv and linear layers of ``module`` of ||W W^T * (1 - I)||_F^2, W the weight flattened to
    (out, -1): it pushes the rows (filters) towards orthogonality without constraining their norms. Under
    spectral norm W is the un-normalised parameter (``parametrizations.weight.original``). Embeddings, biases
    and norm parameters are skipped. Returns a scalar tensor (0 if there are no such layers); multiply by
    beta (the paper: 1e-4) and add to G's loss.
    """
    total: torch.Tensor | None = None
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if parametrize.is_parametrized(m, "weight"):
            W = m.parametrizations.weight.original
        else:
            W = m.weight
        W = W.flatten(1)  # (out, in * k * k)
        if W.shape[0] <= W.shape[1]:
            gram = W @ W.t()  # (out, out)
            term = (gram * (1 - torch.eye(len(gram), device=W.device, dtype=W.dtype))).pow(2).sum()
        else:  # more rows than columns (the stem's linear layer: 2048 x 30 at 32 px): the same number from the
            # small Gram matrix, ||W W^T * (1 - I)||_F^2 = ||W^T W||_F^2 - sum_i ||w_i||^4 (||W W^T||_F = ||W^T W||_F)
            term = (W.t() @ W).pow(2).sum() - W.pow(2).sum(1).pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return total
