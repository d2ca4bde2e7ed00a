"""DiffAugment (Zhao et al., 2020): differentiable augmentation of D's inputs for data-efficient GANs.

    real_aug = diff_augment(real, "color,translation,cutout")
    fake_aug = diff_augment(fake, "color,translation,cutout")  # same policy on both, gradients reach G
    logits_real, logits_fake = D(real_aug), D(fake_aug)

D only ever sees augmented images, real and fake alike, so it cannot memorise a small training
set, and because every transform is differentiable in x, G learns through the augmentation.
Each sample draws its own parameters, from the global torch RNG unless a generator is given (so
the RNG state in a checkpoint is the augmentation state). The definitions are those of the authors'
reference implementation (mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``), written anew
from them; given the same RNG state the three transforms draw the same numbers in the same order and
give the same images:

- "color": brightness + U(-0.5, 0.5); saturation x U(0, 2) about the per-pixel channel mean;
  contrast x U(0.5, 1.5) about the image mean (over channels and pixels).
- "translation": an integer shift (ty, tx) per sample, each uniform in [-r, r] with
  r = round(side / 8) per axis; output pixel (i, j) is input pixel (i + ty, j + tx), zero outside.
- "cutout": a square of side round(side / 2) (a rectangle if H != W) centred at a uniform pixel
  per sample (centre row in [0, H] for an even square side, [0, H - 1] for an odd one), clipped at
  the borders and zeroed in every channel; so it zeroes at most 1/4 of the pixels, 18.6% on average
  at 32 x 32 (18.6% at 28, 19.0% at 128).
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    """One draw per sample from U(low, high), shaped (B, 1, 1, 1) to broadcast over an image."""
    u = torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device, dtype=x.dtype)
    return low + (high - low) * u


def _color(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    x = x + _uniform(x, -0.5, 0.5, g)  # brightness
    mean = x.mean(1, keepdim=True)  # (B, 1, H, W): the pixel's gray level
    x = (x - mean) * _uniform(x, 0.0, 2.0, g) + mean  # saturation
    mean = x.mean((1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * _uniform(x, 0.5, 1.5, g) + mean  # contrast


def _translation(x: torch.Tensor, g: torch.Generator | None, ratio: float = 1 / 8) -> torch.Tensor:
    B, C, H, W = x.shape
    sy, sx = int(H * ratio + 0.5), int(W * ratio + 0.5)  # largest shift per axis
    ty = torch.randint(-sy, sy + 1, (B, 1), generator=g, device=x.device)  # (B, 1): rows first, then columns
    tx = torch.randint(-sx, sx + 1, (B, 1), generator=g, device=x.device)
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy))  # (B, C, H + 2sy, W + 2sx), zero border
    rows = torch.arange(H, device=x.device) + sy + ty  # (B, H): output row i reads input row i + ty
    cols = torch.arange(W, device=x.device) + sx + tx  # (B, W)
    b = torch.arange(B, device=x.device)[:, None, None]  # (B, 1, 1)
    out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)  # (B, C, H, W)


def _cutout(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.5) -> torch.Tensor:
    B, C, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)  # square side (a rectangle if H != W)
    cy = torch.randint(0, H + 1 - ch % 2, (B, 1), generator=g, device=x.device)  # (B, 1): centre row
    cx = torch.randint(0, W + 1 - cw % 2, (B, 1), generator=g, device=x.device)
    y0, x0 = cy - ch // 2, cx - cw // 2  # top-left corner; may lie outside: the square is clipped
    r, c = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    in_rows = (r >= y0) & (r < y0 + ch)  # (B, H)
    in_cols = (c >= x0) & (c < x0 + cw)  # (B, W)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # (B, H, W)
    return x * keep[:, None].to(x.dtype)  # (B, C, H, W)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch of images, differentiably in ``x``.

    Args:
        x: images (B, C, H, W), typically in [-1, 1].
        policy: comma-separated transforms from "color", "translation", "cutout", applied in the
            order written; "" = identity (x returned as is).
        generator: random source, on x's device; None = the global RNG.

    Returns:
        The augmented batch, (B, C, H, W).
    """
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in _TRANSFORMS:
            raise ValueError(f"unknown DiffAugment policy term {name!r}; valid terms: {', '.join(POLICIES)}")
    if names and x.ndim != 4:
        raise ValueError(f"diff_augment needs images (B, C, H, W), got shape {tuple(x.shape)}")
    for name in names:
        x = _TRANSFORMS[name](x, generator)
    return x
