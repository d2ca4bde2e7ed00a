"""StyleGAN generator and discriminator (Karras et al., 2019; StyleGAN2's modulated convolutions, 2020).

    G = StyleGenerator(z_dim=128, w_dim=128, size=32, channels=1, ngf=32)  # z (B, 128) -> x (B, 1, 32, 32)
    w = G.mapping(z)                    # (B, w_dim): the intermediate latent space W
    ws = G.map(z, truncation_psi=0.7)   # (B, G.num_ws, w_dim): one w per style input, truncated towards w_avg
    x = G.synthesis(ws)                 # per-layer styles: mix, edit or project them before synthesis
    D = StyleDiscriminator(size=32, channels=1, ndf=32, mbstd=4)   # x -> logits (B,)

The generator: a mapping network (``mapping``, the paper's f: 8 fully connected layers on a normalised z)
turns z into w; the synthesis network (``synthesis``, g) starts from a learned constant 4x4 input and, at
each resolution 4, 8, ..., size, runs two style layers (upsampling + 3x3 convolution first from 8x8 up):
per-pixel noise scaled per channel ("B"), bias and leaky ReLU, then the style of its own w through a learned
affine map ("A"): AdaIN, or (``style="modulated"``) a modulated/demodulated convolution. Each resolution
adds its own 1x1 to-RGB output to the upsampled image so far (StyleGAN2's skip generator; StyleGAN grew
its resolutions progressively instead). So there are
``2 * log2(size / 2)`` style inputs, layer ``2k`` and ``2k + 1`` at resolution ``4 * 2^k``; ``layer_res``
lists them. Every weight uses the equalised learning rate. Output pixels are linear (no tanh), as in the
paper; samplers clamp to [-1, 1].

``w_avg`` (a buffer, so it is in the state_dict and an EMA copy follows it) is the running mean of w that
the training recipe tracks; the truncation trick pulls w towards it: w' = w_avg + psi (w - w_avg).

Names (paper -> here): f -> ``mapping``, g -> ``synthesis``, "A" -> ``AdaIN.affine`` /
``ModulatedConv2d.affine``, "B" -> ``NoiseInjection.strength``, "Const 4x4x512" -> ``synthesis.const``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nets.layers import AdaIN, EqualConv2d, EqualLinear, MinibatchStd2d, ModulatedConv2d, NoiseInjection

SIZES = (8, 16, 32, 64, 128, 256)
STYLES = ("adain", "modulated")
NOISE_MODES = ("random", "const", "none")


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2)  # the gain keeps unit variance through equalised layers


def channels_at(res: int, size: int, width: int) -> int:
    """Feature channels at resolution ``res``: ``width`` at the image size, doubling per halving, at most 8x."""
    return width * min(size // res, 8)


def _check(size: int, channels: int, width: int) -> None:
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, SIZES))}, got {size}")
    for name, v in (("channels", channels), ("width", width)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")


class MappingNetwork(nn.Module):
    """f: z -> w, an MLP of equalised-lr layers on the normalised z.

    Args:
        z_dim: size of z.
        w_dim: size of w.
        num_layers: fully connected layers (8 in the paper).
        width: hidden width (0 = w_dim).
        lr_mul: learning-rate multiplier of the mapping layers (0.01 in the paper).
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, width: int = 0, lr_mul: float = 0.01) -> None:
        super().__init__()
        if z_dim < 1 or w_dim < 1 or num_layers < 1 or width < 0:
            raise ValueError(f"z_dim, w_dim, num_layers must be >= 1 and width >= 0, got {z_dim}, {w_dim}, "
                             f"{num_layers}, {width}")
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        width = width or w_dim
        sizes = [z_dim] + [width] * (num_layers - 1) + [w_dim]
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(sizes[:-1], sizes[1:],
                                                                                        strict=True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # normalise z onto the sphere of radius sqrt(d)
        for layer in self.layers:
            x = _lrelu(layer(x))
        return x  # (B, w_dim)


class StyleLayer(nn.Module):
    """One style input: [upsample x2] -> [conv 3x3] -> noise ("B") -> bias, leaky ReLU -> AdaIN("A"(w)); or with
    ``style="modulated"``: [upsample] -> modulated conv ("A"(w)) -> noise -> bias, leaky ReLU.

    Args:
        c_in, c_out: channels.
        w_dim: size of w.
        style: "adain" or "modulated".
        up: double the resolution first (bilinear).
        conv: whether there is a convolution (False only for AdaIN right on the constant input).
    """

    def __init__(self, c_in: int, c_out: int, w_dim: int, style: str, up: bool = False, conv: bool = True) -> None:
        super().__init__()
        self.up, self.style = up, style
        self.conv: nn.Module | None = None
        if style == "modulated":
            self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim)
        elif conv:
            self.conv = EqualConv2d(c_in, c_out, 3, bias=False)
        elif c_in != c_out:
            raise ValueError(f"a layer without convolution keeps its channels, got {c_in} -> {c_out}")
        self.noise = NoiseInjection(c_out)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.adain = AdaIN(c_out, w_dim) if style == "adain" else None

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # (B, C, 2H, 2W)
        if self.adain is None:
            x = self.conv(x, w)
        elif self.conv is not None:
            x = self.conv(x)
        if noise is not None:
            x = self.noise(x, noise)
        x = _lrelu(x + self.bias[None, :, None, None])
        return x if self.adain is None else self.adain(x, w)


class SynthesisNetwork(nn.Module):
    """g: per-layer styles ws (B, num_ws, w_dim) -> image (B, channels, size, size).

    Args:
        w_dim: size of w.
        size: image side: 8, 16, 32, 64, 128 or 256.
        channels: image channels.
        width: channels at the image size; each halving doubles them, up to 8 x width (at 4x4 and 8x8 for
            sizes >= 32).
        style: "adain" (StyleGAN: AdaIN after each layer) or "modulated" (StyleGAN2: modulated/demodulated
            convs). Both use StyleGAN2's "skip" output: a 1x1 to-RGB at every resolution (modulated by that
            resolution's second w in the modulated variant), upsampled and summed, which trains without
            StyleGAN's progressive growing.
    """

    def __init__(self, w_dim: int, size: int = 32, channels: int = 1, width: int = 32, style: str = "adain") -> None:
        super().__init__()
        _check(size, channels, width)
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
        self.w_dim, self.size, self.channels, self.style = w_dim, size, channels, style
        self.resolutions = [4 * 2 ** k for k in range(int(math.log2(size)) - 1)]  # 4, 8, ..., size
        c4 = channels_at(4, size, width)
        self.const = nn.Parameter(torch.randn(c4, 4, 4))  # the learned constant input
        layers, to_rgb, self.layer_res = [], [], []
        c_prev = c4
        for res in self.resolutions:
            c = channels_at(res, size, width)
            layers.append(StyleLayer(c_prev, c, w_dim, style, up=res > 4, conv=res > 4))
            layers.append(StyleLayer(c, c, w_dim, style))
            self.layer_res += [res, res]
            to_rgb.append(ModulatedConv2d(c, channels, 1, w_dim, demodulate=False) if style == "modulated"
                          else EqualConv2d(c, channels, 1, bias=False))
            c_prev = c
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(to_rgb)
        self.rgb_bias = nn.Parameter(torch.zeros(len(self.resolutions), channels))
        self.num_ws = len(layers)
        for i, res in enumerate(self.layer_res):  # fixed noise for repeatable pictures (noise_mode="const")
            self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, res, res))

    def make_noise(self, batch: int, generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> list[torch.Tensor]:
        """Fresh per-pixel noise for every layer: a list of (batch, 1, res, res), drawn on the CPU when a
        ``generator`` is given (repeatable on any device), then moved to ``device``."""
        device = device if device is not None else self.const.device
        dev = "cpu" if generator is not None else device
        return [torch.randn(batch, 1, r, r, generator=generator, device=dev).to(device) for r in self.layer_res]

    def const_noise(self) -> list[torch.Tensor]:
        return [getattr(self, f"noise_const_{i}") for i in range(self.num_ws)]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random",
                noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """ws (B, num_ws, w_dim) -> (B, channels, size, size). ``noise`` (one (B or 1, 1, res, res) per layer)
        overrides ``noise_mode``: "random" (fresh draws), "const" (the fixed buffers) or "none"."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        B = ws.shape[0]
        if noise is None:
            if noise_mode not in NOISE_MODES:
                raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
            noise = (self.make_noise(B, device=ws.device) if noise_mode == "random" else
                     self.const_noise() if noise_mode == "const" else [None] * self.num_ws)
        elif len(noise) != self.num_ws:
            raise ValueError(f"noise must hold {self.num_ws} maps (one per layer), got {len(noise)}")
        x = self.const[None].expand(B, -1, -1, -1)  # (B, C4, 4, 4)
        img = None
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise[i])  # (B, C_res, res, res)
            if i % 2 == 1:  # skip architecture: add this resolution's RGB to the upsampled sum so far
                k = i // 2
                rgb = self.to_rgb[k](x, ws[:, i]) if self.style == "modulated" else self.to_rgb[k](x)
                rgb = rgb + self.rgb_bias[k][None, :, None, None]  # (B, channels, res, res)
                img = rgb if img is None else F.interpolate(img, scale_factor=2, mode="bilinear",
                                                            align_corners=False) + rgb
        return img  # (B, channels, size, size)


class StyleGenerator(nn.Module):
    """StyleGAN's generator: ``mapping`` (z -> w) then ``synthesis`` (per-layer ws -> image).

    Args:
        z_dim: size of z.
        w_dim: size of w (and the mapping network's width).
        size: image side: 8, 16, 32, 64, 128 or 256.
        channels: image channels.
        ngf: synthesis width (channels at the image size; doubling per halving up to 8 x ngf).
        map_layers: depth of the mapping network (8 in the paper).
        style: "adain" or "modulated" (see :class:`SynthesisNetwork`).
    """

    def __init__(self, z_dim: int = 128, w_dim: int = 128, size: int = 32, channels: int = 1, ngf: int = 32,
                 map_layers: int = 8, style: str = "adain") -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.size, self.channels = z_dim, w_dim, size, channels
        self.num_classes = 0  # unconditional: the samplers' common interface
        self.mapping = MappingNetwork(z_dim, w_dim, map_layers)
        self.synthesis = SynthesisNetwork(w_dim, size, channels, ngf, style)
        self.num_ws = self.synthesis.num_ws
        self.register_buffer("w_avg", torch.zeros(w_dim))  # running mean of w (tracked by the training recipe)

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """The truncation trick: w' = w_avg + psi (w - w_avg), on layers below ``cutoff`` (None = all)."""
        if psi == 1:
            return ws
        out = ws.clone()
        k = self.num_ws if cutoff is None else cutoff
        out[:, :k] = self.w_avg.lerp(ws[:, :k], psi)
        return out

    def map(self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
            mix_z: torch.Tensor | None = None, mix_layer: torch.Tensor | int | None = None) -> torch.Tensor:
        """z (B, z_dim) -> ws (B, num_ws, w_dim). Style mixing: layers >= ``mix_layer`` (an int or (B,) ints;
        num_ws = no mixing) take w from ``mix_z`` instead."""
        w = self.mapping(z)  # (B, w_dim)
        ws = w[:, None].expand(-1, self.num_ws, -1)  # (B, num_ws, w_dim): one w for every layer
        if mix_z is not None:
            w2 = self.mapping(mix_z)[:, None].expand(-1, self.num_ws, -1)
            cut = torch.as_tensor(mix_layer, device=z.device).reshape(-1, 1, 1)  # (B or 1, 1, 1)
            layer = torch.arange(self.num_ws, device=z.device)[None, :, None]  # (1, num_ws, 1)
            ws = torch.where(layer < cut, ws, w2)
        return self.truncate(ws, truncation_psi, truncation_cutoff)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, mix_z: torch.Tensor | None = None,
                mix_layer: torch.Tensor | int | None = None, noise_mode: str = "random",
                noise: list[torch.Tensor] | None = None, return_ws: bool = False):
        """z (B, z_dim) -> image (B, channels, size, size); with ``return_ws`` also the ws used."""
        if c is not None:
            raise ValueError("labels c were given to an unconditional StyleGAN generator")
        ws = self.map(z, truncation_psi, truncation_cutoff, mix_z, mix_layer)
        img = self.synthesis(ws, noise_mode=noise_mode, noise=noise)
        return (img, ws) if return_ws else img


class _DBlock(nn.Module):
    """Residual discriminator block: conv 3x3, 2x average pool, conv 3x3, plus a pooled 1x1 skip; / sqrt(2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3)
        self.conv1 = EqualConv2d(c_in, c_out, 3)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(_lrelu(self.conv0(x)), 2)  # (B, c_in, H/2, W/2)
        y = _lrelu(self.conv1(y))  # (B, c_out, H/2, W/2)
        return (y + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class StyleDiscriminator(nn.Module):
    """StyleGAN2's residual discriminator with minibatch standard deviation, equalised lr throughout.

    x (B, channels, size, size) -> from-RGB 1x1 -> residual blocks down to 4x4 -> minibatch std ->
    conv 3x3 -> dense -> logits (B,).

    Args:
        size: image side: 8, 16, 32, 64, 128 or 256.
        channels: image channels.
        ndf: width at the image size; each halving doubles it, up to 8 x ndf.
        mbstd: minibatch-std group size (0 = off); min(mbstd, B) must divide the batch size.
    """

    def __init__(self, size: int = 32, channels: int = 1, ndf: int = 32, mbstd: int = 4) -> None:
        super().__init__()
        _check(size, channels, ndf)
        if mbstd < 0:
            raise ValueError(f"mbstd must be >= 0, got {mbstd}")
        self.size, self.channels, self.num_classes = size, channels, 0
        self.from_rgb = EqualConv2d(channels, channels_at(size, size, ndf), 1)
        blocks, res = [], size
        while res > 4:
            blocks.append(_DBlock(channels_at(res, size, ndf), channels_at(res // 2, size, ndf)))
            res //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = channels_at(4, size, ndf)
        self.mbstd = MinibatchStd2d(mbstd) if mbstd else None
        self.conv = EqualConv2d(c4 + (1 if mbstd else 0), c4, 3)
        self.fc = EqualLinear(c4 * 16, c4)
        self.out = EqualLinear(c4, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if c is not None:
            raise ValueError("labels c were given to an unconditional StyleGAN discriminator")
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.size, self.size):
            raise ValueError(f"x must have shape (B, {self.channels}, {self.size}, {self.size}), got {tuple(x.shape)}")
        h = self.blocks(_lrelu(self.from_rgb(x)))  # (B, C4, 4, 4)
        if self.mbstd is not None:
            h = self.mbstd(h)  # (B, C4 + 1, 4, 4)
        h = _lrelu(self.conv(h))
        h = _lrelu(self.fc(h.flatten(1)))  # (B, C4)
        return self.out(h).squeeze(1)  # (B,)
