"""Blocks shared by several networks."""

from __future__ import annotations

import torch
from torch import nn

#: the noise distributions a generator can be trained on: N(0, I), or uniform on [-1, 1]^z_dim
#: (Goodfellow et al., 2014 used uniform noise; GAN Lab offers both)
Z_DISTS = ("gaussian", "uniform")


def draw_noise(n: int, z_dim: int, dist: str = "gaussian", *, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` noise vectors (n, z_dim) from ``dist`` (:data:`Z_DISTS`); ``generator`` as in ``torch.randn``."""
    if dist == "gaussian":
        return torch.randn(n, z_dim, generator=generator, device=device)
    if dist == "uniform":
        return torch.rand(n, z_dim, generator=generator, device=device) * 2 - 1
    raise ValueError(f"unknown noise distribution {dist!r}; known: {', '.join(Z_DISTS)}")


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
# --------------------------------------------------------------------------- StyleGAN blocks

class EqualLinear(nn.Module):
    """A linear layer with an equalised learning rate (Karras et al., 2018): weights drawn from N(0, 1 / lr_mul)
    and scaled at run time by ``lr_mul / sqrt(in_features)``, so Adam's step is alike for every layer.

    Args:
        in_features, out_features: sizes.
        bias: add a learned bias (initialised to ``bias_init``).
        lr_mul: learning-rate multiplier of this layer (StyleGAN's mapping network uses 0.01).
        bias_init: the bias's initial value (an AdaIN scale starts at 1).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, lr_mul: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.w_gain = lr_mul / in_features ** 0.5
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        return nn.functional.linear(x, self.weight * self.w_gain, b)


class EqualConv2d(nn.Module):
    """A convolution with an equalised learning rate: N(0, 1) weights scaled by ``1 / sqrt(fan_in)`` at run time.

    Args:
        in_channels, out_channels, kernel_size: as for ``nn.Conv2d``; padding keeps the size (``kernel // 2``).
        bias: add a learned bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.w_gain = 1.0 / (in_channels * kernel_size * kernel_size) ** 0.5
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight * self.w_gain, self.bias, padding=self.padding)


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """AdaIN(x_i, y) = y_s,i (x_i - mu(x_i)) / sigma(x_i) + y_b,i (Huang & Belongie, 2017; Karras et al., 2019).

    Each channel of each sample is normalised over its pixels, then takes the style's scale and bias:
    x (B, C, H, W), scale and bias (B, C) -> (B, C, H, W) whose channel means are ``bias`` and standard
    deviations ``|scale|``.
    """
    mu = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
    var = (x - mu).pow(2).mean((2, 3), keepdim=True)
    x = (x - mu) * torch.rsqrt(var + eps)
    return scale[:, :, None, None] * x + bias[:, :, None, None]


class AdaIN(nn.Module):
    """AdaIN driven by w: the learned affine map "A" turns w into a per-channel style (scale, bias).

    Args:
        channels: feature channels C.
        w_dim: size of w.
    """

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, 2 * channels, bias_init=0.0)  # "A"
        with torch.no_grad():
            self.affine.bias[:channels] = 1.0  # scale starts at 1, bias at 0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.affine(w).chunk(2, dim=1)  # (B, C) each
        return adain(x, scale, bias)


class NoiseInjection(nn.Module):
    """Per-pixel Gaussian noise, one map per sample shared by all channels, scaled per channel by the learned
    factors "B" (initialised to 0: the generator learns how much noise each channel takes).

    Args:
        channels: feature channels C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(channels))  # "B"

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.strength[None, :, None, None] * noise  # noise (B, 1, H, W) -> (B, C, H, W)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's weight modulation / demodulation (Karras et al., 2020), the alternative to AdaIN.

    The style s = A(w) scales the input channels of the weight, w'_ijk = s_i w_ijk; demodulation divides
    each output channel by sqrt(sum_ik w'_ijk^2 + eps), so outputs have unit expected std without
    normalising the activations (which caused AdaIN's droplet artefacts). Computed as StyleGAN2's unfused
    path, which is exact and fast on CPUs too: scale the input channels by s, convolve with the shared weight,
    scale each sample's output channels by the demodulation factor.

    Args:
        in_channels, out_channels, kernel_size: as for a convolution (padding keeps the size).
        w_dim: size of w.
        demodulate: divide by the weight norm (False for the to-RGB layers).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # "A"
        self.w_gain = 1.0 / (in_channels * kernel_size * kernel_size) ** 0.5
        self.demodulate = demodulate
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (B, C_in)
        weight = self.weight * self.w_gain  # (C_out, C_in, k, k)
        out = nn.functional.conv2d(x * s[:, :, None, None], weight, padding=self.padding)  # (B, C_out, H, W)
        if self.demodulate:  # 1 / sqrt(sum_ik (s_i w_ijk)^2): the std each output channel would have
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum((2, 3)).t() + 1e-8)  # (B, C_out)
            out = out * d[:, :, None, None]
        return out
