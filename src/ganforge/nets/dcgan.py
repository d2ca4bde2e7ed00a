"""DCGAN generator and discriminator for images (Radford et al., 2015), optionally class-conditional.

    G = DCGANGenerator(z_dim=100, size=64, channels=3, ngf=64)  # z (B, 100) -> x (B, 3, 64, 64) in [-1, 1]
    D = DCGANDiscriminator(size=64, channels=3, ndf=64)         # x (B, 3, 64, 64) -> logits (B,)
    G = DCGANGenerator(size=28, num_classes=10)                  # conditional: G(z, c), c (B,) int64 labels
    D = DCGANDiscriminator(size=28, num_classes=10, cond="projection")  # D(x, c)

The paper's guidelines: strided convolutions instead of pooling, batch norm in both networks but
not on G's output layer nor D's input layer, no fully connected hidden layers, ReLU in G with tanh
on the output, LeakyReLU(0.2) in D, weights drawn from N(0, 0.02). D returns a raw logit (no
sigmoid): losses work on logits. With z_dim=100, ngf=ndf=64, size 64, channels 3 and the defaults,
the networks equal pytorch/examples' dcgan: G has 3,576,704 parameters, D 2,765,568.

Names: the paper's "projection of Z" is the stem below; Mirza & Osindero's y is c here.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.nets.layers import MinibatchStd2d

SIZES = (28, 32, 64, 128)
UPSAMPLE = ("deconv", "resize")
NORMS = ("batch", "none", "spectral", "instance")
CONDS = ("concat", "projection")


def _check(name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _n_resamplings(size: int) -> int:
    """Stride-2 layers between the smallest map (7x7 for 28 px, else 4x4) and the image."""
    return 2 if size == 28 else (size // 4).bit_length() - 1  # 32 -> 3, 64 -> 4, 128 -> 5


def _check_labels(num_classes: int, c: torch.Tensor | None, B: int) -> None:
    if num_classes and c is None:
        raise ValueError(f"this network is conditional (num_classes={num_classes}): pass labels c of shape (B,)")
    if not num_classes and c is not None:
        raise ValueError("labels c were given to an unconditional network (num_classes=0)")
    if c is not None and tuple(c.shape) != (B,):
        raise ValueError(f"labels c must have shape ({B},), got {tuple(c.shape)}")


def init_dcgan_weights(module: nn.Module) -> None:
    """The paper's initialisation, in place, on ``module`` and all its sub-modules.

    Conv, transposed conv and linear weights ~ N(0, 0.02); batch/instance norm scales ~ N(1, 0.02);
    all their biases 0. Embeddings keep PyTorch's N(0, 1). Weights under a parametrization (spectral
    norm) are left alone, since their power-iteration state belongs to the current weight: the
    constructors below initialise before they parametrize.
    """
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if not parametrize.is_parametrized(m, "weight"):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, norms) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _up(c_in: int, c_out: int, upsample: str) -> nn.Module:
    """Double the resolution: (B, c_in, H, W) -> (B, c_out, 2H, 2W). No bias: a norm follows or, at
    the output, pytorch/examples has none."""
    if upsample == "deconv":
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    # Odena et al. (2016): nearest resize then a 3x3 conv, free of the checkerboard of overlapping strides
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))


class DCGANGenerator(nn.Module):
    """Maps noise (and a label) to an image in [-1, 1].

    Shapes for size 64 (L = 4 doublings; 32 px has 3, 128 px 5; 28 px starts at 7x7 with 2):
    z (B, z_dim) -> (B, ngf*8, 4, 4) -> (B, ngf*4, 8, 8) -> (B, ngf*2, 16, 16) -> (B, ngf, 32, 32)
    -> (B, channels, 64, 64).

    Args:
        z_dim: noise size.
        size: image side in pixels: 28, 32, 64 or 128.
        channels: image channels (1 gray, 3 RGB).
        ngf: width: channels of the last hidden layer; each layer towards the noise has twice as
            many, so the first map has ngf * 2^(L-1).
        upsample: "deconv" = ConvTranspose2d(kernel 4, stride 2, padding 1) per doubling (the
            paper); "resize" = nearest x2 upsampling then Conv2d(3x3) (Odena et al., 2016).
            The stem from z is the same in both.
        num_classes: classes of a conditional generator (0 = unconditional, forward takes no c).
        embed_dim: size of the label embedding concatenated to z (0 = min(num_classes, z_dim));
            unused if num_classes is 0.
    """

    def __init__(self, z_dim: int = 100, size: int = 32, channels: int = 1, ngf: int = 64,
                 upsample: str = "deconv", num_classes: int = 0, embed_dim: int = 0) -> None:
        super().__init__()
        _check("size", size, SIZES)
        _check("upsample", upsample, UPSAMPLE)
        _check_positive(z_dim=z_dim, channels=channels, ngf=ngf)
        if num_classes < 0 or embed_dim < 0:
            raise ValueError(f"num_classes and embed_dim must be >= 0, got {num_classes} and {embed_dim}")
        self.z_dim, self.size, self.channels, self.num_classes = z_dim, size, channels, num_classes
        # Mirza & Osindero (2014): the label enters G as a learned embedding concatenated with z
        # A small embedding by default: one as large as z (both N(0, 1)) drowns the noise, and G learns
        # one image per class (measured: recall 0 on MNIST with 100 dims, 0.8 with 10).
        self.embed = nn.Embedding(num_classes, embed_dim or min(num_classes, z_dim)) if num_classes else None
        z_in = z_dim + (self.embed.embedding_dim if self.embed is not None else 0)

        L = _n_resamplings(size)
        ch = ngf * 2 ** (L - 1)
        if size == 28:
            stem = [nn.Linear(z_in, ch * 7 * 7, bias=False), nn.Unflatten(1, (ch, 7, 7))]  # (B, ngf*2, 7, 7)
        else:  # a transposed conv from 1x1 is a linear layer to a 4x4 map
            stem = [nn.Unflatten(1, (z_in, 1, 1)), nn.ConvTranspose2d(z_in, ch, 4, 1, 0, bias=False)]  # (B, ch, 4, 4)
        layers: list[nn.Module] = [*stem, nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
        for i in range(L):
            if i < L - 1:
                layers += [_up(ch, ch // 2, upsample), nn.BatchNorm2d(ch // 2),
                           nn.ReLU(inplace=True)]  # (B, ch/2, 2H, 2W)
                ch //= 2
            else:  # no batch norm on the output layer
                layers += [_up(ch, channels, upsample), nn.Tanh()]  # (B, channels, size, size)
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        _check_labels(self.num_classes, c, z.shape[0])
        if self.embed is not None:
            z = torch.cat([z, self.embed(c)], 1)  # (B, z_dim + embed_dim)
        return self.net(z)  # (B, channels, size, size), in [-1, 1]


class DCGANDiscriminator(nn.Module):
    """Scores images (and labels) with a logit: high = real.

    Shapes for size 64 (L = 4 halvings; 32 px has 3, 128 px 5; 28 px has 2, down to 7x7):
    x (B, channels, 64, 64) -> (B, ndf, 32, 32) -> (B, ndf*2, 16, 16) -> (B, ndf*4, 8, 8)
    -> (B, ndf*8, 4, 4) -> logits (B,).

    Args:
        size: image side in pixels: 28, 32, 64 or 128.
        channels: image channels (1 gray, 3 RGB).
        ndf: width: channels of the first layer; each halving of the resolution doubles them.
        norm: normalisation after each conv but the first: "batch" (the paper), "instance"
            (InstanceNorm2d with affine scale and shift: for a gradient-penalty critic, where
            batch norm mixes the samples the penalty treats one by one), "spectral" (spectral
            norm on every conv, linear and projection embedding (Miyato et al., 2018); no other
            norm) or "none". Convs have a bias only with "none" and "spectral".
        num_classes: classes of a conditional discriminator (0 = unconditional, forward takes no c).
        cond: how a conditional D reads the label (ignored if num_classes is 0):
            "concat" = a learned `num_classes`-dim embedding of c (as expressive as the one-hot
            y of Mirza & Osindero), broadcast over H x W and concatenated to the image channels
            at the input; "projection" (Miyato & Koyama,
            2018) = logit = linear(h) + <embed(c), h> with h the sum-pooled final features.
        mbstd: minibatch-std group size (Karras et al., 2018): one extra feature map before the
            final layer (0 = off). min(mbstd, B) must divide the batch size B.
        codes: values of an InfoGAN categorical code (Chen et al., 2016; 0 = off): adds the Q head,
            which reads D's final features and predicts the code G was given; ``forward(x,
            info=True)`` returns ``(logits, code_logits)``.
    """

    def __init__(self, size: int = 32, channels: int = 1, ndf: int = 64, norm: str = "batch",
                 num_classes: int = 0, cond: str = "concat", mbstd: int = 0, codes: int = 0) -> None:
        super().__init__()
        _check("size", size, SIZES)
        _check("norm", norm, NORMS)
        _check("cond", cond, CONDS)
        _check_positive(channels=channels, ndf=ndf)
        if num_classes < 0 or mbstd < 0 or codes < 0:
            raise ValueError(f"num_classes, mbstd and codes must be >= 0, got {num_classes}, {mbstd} and {codes}")
        self.size, self.channels, self.num_classes = size, channels, num_classes
        self.cond = cond if num_classes else "none"
        bias = norm in ("none", "spectral")  # a bias before batch/instance norm is cancelled by it

        k = num_classes if self.cond == "concat" else 0  # label channels appended to the image
        self.label_map = nn.Embedding(num_classes, k) if k else None

        L = _n_resamplings(size)
        layers: list[nn.Module] = []
        c_in, ch = channels + k, ndf
        for i in range(L):
            layers.append(nn.Conv2d(c_in, ch, 4, 2, 1, bias=bias))  # (B, ch, H/2, W/2)
            if i > 0 and norm == "batch":  # no norm on the input layer
                layers.append(nn.BatchNorm2d(ch))
            elif i > 0 and norm == "instance":
                layers.append(nn.InstanceNorm2d(ch, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers)  # -> (B, ndf*2^(L-1), 4, 4); (B, ndf*2, 7, 7) for 28 px
        self.mbstd = MinibatchStd2d(mbstd) if mbstd else None
        c_last = c_in + (1 if mbstd else 0)

        self.proj: nn.Embedding | None = None
        if self.cond == "projection":
            self.head: nn.Module = nn.Linear(c_last, 1)  # psi(h) on the pooled features
            self.proj = nn.Embedding(num_classes, c_last)  # V: one row per class
        elif size == 28:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_last * 7 * 7, 1))  # (B, 1)
        else:
            self.head = nn.Conv2d(c_last, 1, 4, 1, 0, bias=bias)  # (B, 1, 1, 1)

        # InfoGAN's Q shares D's body; its own small head: a conv over the whole final map, then the code logits
        side = 7 if size == 28 else 4
        self.q_head = nn.Sequential(nn.Conv2d(c_in, 128, side, 1, 0), nn.LeakyReLU(0.2), nn.Flatten(),
                                    nn.Linear(128, codes)) if codes else None  # (B, codes)

        init_dcgan_weights(self)
        if self.proj is not None:
            nn.init.normal_(self.proj.weight, 0.0, 0.02)  # same scale as psi's weights
        if norm == "spectral":  # after the init: spectral_norm's power iteration starts from these weights
            for m in list(self.modules()):
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)) and m is not self.label_map:
                    spectral_norm(m)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None,
                info: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        B = x.shape[0]
        if info and self.q_head is None:
            raise ValueError("info=True needs a discriminator built with codes > 0")
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.size, self.size):
            raise ValueError(f"x must have shape (B, {self.channels}, {self.size}, {self.size}), "
                             f"got {tuple(x.shape)}")
        _check_labels(self.num_classes, c, B)
        if self.label_map is not None:
            y = self.label_map(c)[:, :, None, None].expand(-1, -1, self.size, self.size)  # (B, k, H, W)
            x = torch.cat([x, y], 1)  # (B, channels + k, H, W)
        h = self.body(x)  # (B, C, 4, 4); (B, C, 7, 7) for 28 px
        code_logits = self.q_head(h) if info else None  # (B, codes)
        if self.mbstd is not None:
            h = self.mbstd(h)  # (B, C + 1, 4, 4)
        if self.proj is not None:
            h = h.sum((2, 3))  # (B, C): sum pooling, as Miyato & Koyama
            logits = self.head(h).squeeze(1) + (self.proj(c) * h).sum(1)  # (B,)
        else:
            logits = self.head(h).reshape(B)  # (B,)
        return (logits, code_logits) if info else logits
