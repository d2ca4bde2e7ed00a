"""Mode coverage and sample quality on Gaussian mixtures, PacGAN's protocol (Lin et al., 2018, after VEEGAN).

    stats = mode_stats(fake, centers, std=0.01)   # {"modes": 8, "hq": 97.1, "reverse_kl": 0.004}

Each sample goes to its nearest mode by distance / std; it is *high quality* when that
normalised distance is below ``threshold`` (3). A mode is *captured* when it has at least
one high-quality sample. Reverse KL is KL(q || uniform) over the modes, q being the
histogram of the high-quality samples.
"""

from __future__ import annotations

import numpy as np


def check_points(x: np.ndarray, name: str = "points", dim: int | None = 2) -> np.ndarray:
    """A finite float64 array of shape (N, dim) with N >= 1, or a ValueError naming the problem."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim) or len(x) == 0:
        want = f"(N, {dim})" if dim is not None else "(N, d)"
        raise ValueError(f"{name} must have shape {want} with N >= 1, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(x)).any(1).sum())} non-finite row(s)")
    return x


def mode_stats(fake: np.ndarray, centers: np.ndarray, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Modes captured, % high-quality samples and reverse KL of ``fake`` against a mixture.

    Args:
        fake: (N, d) generated samples.
        centers: (M, d) mode centres (equal weights).
        std: the modes' standard deviation (> 0).
        threshold: high quality = distance to the nearest mode < threshold * std.

    Returns {"modes": int, "hq": percent in [0, 100], "reverse_kl": nats}. With no high-quality
    sample at all, q is undefined and reverse_kl is NaN.
    """
    fake = check_points(fake, "fake", None)
    centers = check_points(centers, "centers", fake.shape[1])
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    d2 = ((fake[:, None, :] - centers[None, :, :]) ** 2).sum(-1)  # (N, M)
    nearest = d2.argmin(1)  # (N,)
    dist = np.sqrt(d2[np.arange(len(fake)), nearest]) / std  # (N,) in units of std
    hq = dist < threshold
    counts = np.bincount(nearest[hq], minlength=len(centers))  # (M,)
    if counts.sum() == 0:
        reverse_kl = float("nan")
    else:
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(np.sum(q * np.log(q * len(centers))))  # KL(q || 1/M) = sum q log(q M)
    return {"modes": int((counts > 0).sum()), "hq": float(100.0 * hq.mean()), "reverse_kl": reverse_kl}
