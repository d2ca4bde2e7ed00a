"""Adversarial losses as pure functions of logits, and penalties.

``D`` outputs a logit ``l``; ``D(x) = sigmoid(l)`` where a probability is meant. With
``softplus(t) = log(1 + e^t)``: ``-log sigmoid(l) = softplus(-l)`` and
``-log(1 - sigmoid(l)) = softplus(l)``, which keeps every loss finite for any logit.

    loss_D = d_loss("ns", logits_real, logits_fake)
    loss_G = g_loss("ns", logits_fake)
    loss_D = loss_D + gp_weight * gradient_penalty(D, real, fake)   # wgan-gp
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: the adversarial losses :func:`d_loss` and :func:`g_loss` implement
ADVERSARIAL = ("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan")


def fp32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in fp32 when autocast made it bf16 / fp16; any other dtype (fp32, fp64) as it is."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def d_loss(kind: str, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss, to be minimised (in fp32 whatever the logits' dtype)."""
    logits_real, logits_fake = fp32(logits_real), fp32(logits_fake)
    if kind in ("minimax", "ns"):
        # Goodfellow et al. (2014): max_D E[log D(x)] + E[log(1 - D(G(z)))]
        return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
    if kind in ("wgan", "wgan-gp"):
        # Arjovsky et al. (2017): max_D E[D(x)] - E[D(G(z))]  (D a 1-Lipschitz critic)
        return logits_fake.mean() - logits_real.mean()
    if kind == "hinge":
        # Lim & Ye (2017); Miyato et al. (2018): E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
        return F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean()
    if kind == "lsgan":
        # Mao et al. (2017), a=0, b=1: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]
        return 0.5 * (logits_real - 1).pow(2).mean() + 0.5 * logits_fake.pow(2).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, logits_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss, to be minimised (in fp32)."""
    logits_fake = fp32(logits_fake)
    if kind == "minimax":
        # Saturating: min_G E[log(1 - D(G(z)))] = E[-softplus(l)]; its gradient vanishes as D(G(z)) -> 0
        return -F.softplus(logits_fake).mean()
    if kind == "ns":
        # Non-saturating: min_G -E[log D(G(z))] = E[softplus(-l)]
        return F.softplus(-logits_fake).mean()
    if kind in ("wgan", "wgan-gp", "hinge"):
        # min_G -E[D(G(z))]
        return -logits_fake.mean()
    if kind == "lsgan":
        # c=1: 1/2 E[(D(G(z)) - 1)^2]
        return 0.5 * (logits_fake - 1).pow(2).mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(D: Callable[[torch.Tensor], torch.Tensor] | nn.Module, real: torch.Tensor,
                     fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al., 2017): E[(||grad_x D(x_hat)||_2 - 1)^2], x_hat on real-fake lines.

    Args:
        D: the critic.
        real, fake: (B, ...) batches of the same shape; ``fake`` should be detached.
        generator: RNG for the interpolation weights (for reproducible runs).
    """
    B = real.shape[0]
    dev = generator.device if generator is not None else real.device
    real, fake = fp32(real), fp32(fake)
    eps = torch.rand(B, *([1] * (real.dim() - 1)), generator=generator, device=dev).to(real)  # (B, 1, ...)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)  # (B, ...)
    with full_precision(real):  # the double backward in fp32 under a reduced-precision autocast
        out = D(x_hat)
        (grad,) = torch.autograd.grad(fp32(out).sum(), x_hat, create_graph=True)
    norms = grad.reshape(B, -1).norm(2, dim=1)  # (B,)
    return (norms - 1).pow(2).mean()


def r1_penalty(D: Callable[[torch.Tensor], torch.Tensor] | nn.Module, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al., 2018): E[||grad_x D(x)||^2] on real data; multiply by gamma / 2."""
    return r1_penalty_and_logits(D, real)[0]


def r1_penalty_and_logits(D: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
                          real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """R1 as :func:`r1_penalty`, and D's logits on ``real`` (adding ``0 * logits.sum()`` to a loss gives every
    parameter of D a gradient, which DistributedDataParallel needs: the last bias does not reach R1)."""
    real = fp32(real.detach()).requires_grad_(True)
    with full_precision(real):  # the double backward in fp32 under a reduced-precision autocast
        logits = fp32(D(real))
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.reshape(real.shape[0], -1).pow(2).sum(1).mean(), logits


def full_precision(like: torch.Tensor) -> torch.autocast:
    """A context in which autocast is off on ``like``'s device: penalties whose double backward must not run
    in bf16 / fp16 (R1, the gradient penalty) compute in fp32 there, as the parameters are."""
    return torch.autocast(like.device.type, enabled=False)


# --------------------------------------------------------------------------- image-to-image translation

def patch_d_loss(kind: str, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """A translation discriminator's loss over its patch logits, halved as pix2pix and CycleGAN do
    ("we divide the objective by 2 while optimizing D", Isola et al. 2017, sec. 3.3). ``d_loss("lsgan")``
    already holds the 1/2 of Mao et al., which is CycleGAN's halving; the other losses are halved here."""
    loss = d_loss(kind, logits_real, logits_fake)
    return loss if kind == "lsgan" else 0.5 * loss


def l1(fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pix2pix's reconstruction term: E[||y - G(x)||_1], averaged over pixels (Isola et al., eq. 3), in fp32."""
    return (fp32(fake) - fp32(target)).abs().mean()


def cycle_loss(real_A: torch.Tensor, rec_A: torch.Tensor, real_B: torch.Tensor, rec_B: torch.Tensor) -> torch.Tensor:
    """CycleGAN's cycle consistency (Zhu et al., eq. 2): E_x[||F(G(x)) - x||_1] + E_y[||G(F(y)) - y||_1],
    with ``rec_A`` = F(G(real_A)) and ``rec_B`` = G(F(real_B))."""
    return l1(rec_A, real_A) + l1(rec_B, real_B)


def identity_loss(real_A: torch.Tensor, idt_A: torch.Tensor, real_B: torch.Tensor, idt_B: torch.Tensor) -> torch.Tensor:
    """CycleGAN's identity mapping loss (Zhu et al., sec. 5.2; Taigman et al. 2017):
    E_y[||G(y) - y||_1] + E_x[||F(x) - x||_1], with ``idt_B`` = G(real_B) and ``idt_A`` = F(real_A)."""
    return l1(idt_B, real_B) + l1(idt_A, real_A)
