"""Translation metrics: paired fidelity (L1, PSNR, SSIM) and the unpaired digit checks.

    s = paired_scores(fake, target)           # {"l1", "psnr", "ssim"}, images (N, C, H, W) in [-1, 1]
    d = decolour(colour_digits)               # (N, 1, H, W) in [-1, 1]: a colour digit as a gray digit

PSNR and SSIM come from ``skimage.metrics`` (data range 2 for images in [-1, 1]), averaged over images;
SSIM is Wang et al. 2004's (``SSIM_WINDOW``): an 11x11 Gaussian window of sigma 1.5, K1 = 0.01,
K2 = 0.03, population (not sample) covariances, the SSIM map averaged over the pixels whose window lies
inside the image (as Wang's reference code; torchmetrics' mean also takes in a reflect-padded border) and
over the channels. L1 is the mean absolute pixel error in [-1, 1] units.
An image equal to its target would have an infinite PSNR; its MSE is floored at the noise of 8-bit
quantisation, (2/255)^2 / 12, which caps one image's PSNR at 58.9 dB (``PSNR_CAP``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

QUANT_MSE = (2 / 255) ** 2 / 12  # uniform 8-bit quantisation noise, images in [-1, 1]
PSNR_CAP = 10 * math.log10(4 / QUANT_MSE)  # 58.9 dB
#: how SSIM is computed (written into the evaluation's provenance)
SSIM_WINDOW = ("Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population covariance, "
               "mean over the valid (unpadded) pixels")


def paired_scores(fake: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean per-image L1, PSNR (dB) and SSIM between two (N, C, H, W) batches in [-1, 1]."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    if fake.shape != target.shape:
        raise ValueError(f"images to compare differ in shape: {tuple(fake.shape)} vs {tuple(target.shape)}")
    f = fake.detach().float().clamp(-1, 1).cpu().numpy().astype(np.float64)
    t = target.detach().float().clamp(-1, 1).cpu().numpy().astype(np.float64)
    mse = ((f - t) ** 2).reshape(len(f), -1).mean(1)
    psnr = [peak_signal_noise_ratio(t[i], f[i], data_range=2.0) if mse[i] > QUANT_MSE else PSNR_CAP
            for i in range(len(f))]
    side = min(f.shape[-2:])
    win = None if side >= 11 else side - (1 - side % 2)  # None: 11 from sigma 1.5; below 11 px a smaller crop
    ssim = [structural_similarity(t[i], f[i], data_range=2.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, K1=0.01, K2=0.03, win_size=win)
            for i in range(len(f))]
    return {"l1": float(np.abs(f - t).mean()), "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


def decolour(x: torch.Tensor) -> torch.Tensor:
    """A colour digit over a texture -> a gray digit: |luma - median luma| per image, scaled to [-1, 1].

    MNIST-M-style digits invert the texture's colours where the stroke is, so the stroke stands out from the
    image's typical (median) brightness; a fixed function, so the shipped gray-digit classifier can read
    translated colour digits (the check is run on real colour digits too, as its reference)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    luma = torch.einsum("bchw,c->bhw", x, w)[:, None] if x.shape[1] == 3 else x  # (N, 1, H, W)
    c = (luma - luma.flatten(1).median(1).values[:, None, None, None]).abs()
    c = c / c.flatten(1).amax(1).clamp_min(1e-6)[:, None, None, None]
    return c * 2 - 1  # (N, 1, H, W)


@torch.no_grad()
def label_accuracy(clf, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    """The share of images ``x`` (N, C, H, W) in [-1, 1] that the classifier (``logits``) labels ``y``."""
    dev = next(clf.parameters()).device
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((clf.logits(x[i:i + batch].to(dev)).argmax(1).cpu() == y[i:i + batch]).sum())
    return hits / max(1, len(x))
