"""Distances between two samples: exact Wasserstein-1 (POT) and KL / JSD on a shared histogram.

    wasserstein1(fake, real)                       # earth mover's distance, Euclidean ground cost
    histogram_divergences(real, fake, bins=50)     # {"kl": ..., "jsd": ...} in nats
"""

from __future__ import annotations

import numpy as np
import ot

from ganforge.metrics.toy import check_points


def wasserstein1(x: np.ndarray, y: np.ndarray, max_iter: int = 1_000_000) -> float:
    """Exact W1 between the empirical distributions of ``x`` (N, d) and ``y`` (M, d), uniform weights.

    W1(P, Q) = min over couplings pi of E_pi ||x - y||  (the earth mover's distance), solved as a
    linear program by POT's network simplex (``ot.emd2``). Sizes may differ.
    """
    x, y = check_points(x, "x", None), check_points(y, "y", None)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    cost = ot.dist(x, y, metric="euclidean")  # (N, M)
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    return float(ot.emd2(a, b, cost, numItermax=max_iter))


def histogram_divergences(real: np.ndarray, fake: np.ndarray, bins: int = 50, alpha: float = 0.01) -> dict[str, float]:
    """KL(real || fake) and JSD(real, fake) in nats on a shared ``bins`` x ``bins`` histogram.

    The histogram spans the joint bounding box of both samples. Each bin gets ``alpha``
    pseudo-counts on both sides before normalising, so KL stays finite where the generator
    puts no mass: the value therefore depends on ``bins`` and ``alpha``, which is why it is
    reported beside the real-vs-real floor. KL(p || q) = sum p log(p / q);
    JSD = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, bounded by log 2.
    """
    real, fake = check_points(real, "real"), check_points(fake, "fake")
    if bins < 1 or alpha < 0:
        raise ValueError(f"bins must be >= 1 and alpha >= 0, got bins={bins}, alpha={alpha}")
    both = np.concatenate([real, fake])
    lo, hi = both.min(0), both.max(0)
    hi = np.where(hi > lo, hi, lo + 1e-9)
    edges = [np.linspace(lo[i], hi[i], bins + 1) for i in range(2)]
    p = np.histogram2d(real[:, 0], real[:, 1], bins=edges)[0].ravel() + alpha  # (bins*bins,)
    q = np.histogram2d(fake[:, 0], fake[:, 1], bins=edges)[0].ravel() + alpha
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / b[nz])))

    return {"kl": kl(p, q), "jsd": 0.5 * kl(p, m) + 0.5 * kl(q, m)}
