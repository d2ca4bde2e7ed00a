"""Latent-space paths: linear and spherical interpolation between noise vectors.

    z = interpolate(z0, z1, steps=10, method="slerp")   # (10, z_dim): z0 ... z1

Gaussian noise in many dimensions lies near a sphere of radius sqrt(z_dim); a straight line
between two such points passes closer to the origin, where the generator saw little
training data. Spherical interpolation (slerp; White, 2016) stays on the shell.
"""

from __future__ import annotations

import math

import torch

METHODS = ("lerp", "slerp")


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) z0 + t z1 for each t: z0, z1 (D,), t (T,) -> (T, D)."""
    t = t[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation: z0, z1 (D,), t (T,) -> (T, D); falls back to lerp for (anti)parallel ends."""
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(eps)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))  # angle between the two directions
    so = torch.sin(omega)
    if so.abs() < eps:
        return lerp(z0, z1, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * z0 + (torch.sin(t * omega) / so) * z1


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """``steps`` points from z0 to z1 inclusive: (steps, D)."""
    if method not in METHODS:
        raise ValueError(f"interpolation method must be one of {', '.join(METHODS)}, got {method!r}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)
    return (slerp if method == "slerp" else lerp)(z0, z1, t)


def truncate(z: torch.Tensor, psi: float, generator: torch.Generator | None = None,
             max_rounds: int = 10_000) -> torch.Tensor:
    """BigGAN's truncation trick (Brock et al., 2019): ``z`` (N, D) standard normal with every entry whose
    magnitude exceeds the threshold ``psi`` redrawn until none does, a normal truncated to [-psi, psi].

    Smaller ``psi`` trades variety for fidelity. A copy; ``generator`` draws the replacements (CPU).
    """
    if not (math.isfinite(psi) and psi > 0):
        raise ValueError(f"the truncation threshold psi must be a finite number > 0, got {psi}")
    z = z.detach().cpu().float().clone()
    bad = z.abs() > psi
    for _ in range(max_rounds):  # each round keeps the share P(|z| <= psi) of what was left
        n = int(bad.sum())
        if not n:
            return z
        z[bad] = torch.randn(n, generator=generator)
        bad = z.abs() > psi
    raise ValueError(f"the truncation threshold psi={psi:g} is too small to sample from")
