"""Mode coverage and sample quality on Gaussian mixtures, PacGAN's protocol (Lin et al., 2018, after VEEGAN).

    from ganforge.metrics import mode_stats
    stats = mode_stats(fake, centers, std=0.01)   # {"modes": 8, "hq": 97.1, "reverse_kl": 0.004}

Each sample goes to its nearest mode by distance / std; it is *high quality* when that
normalised distance is below ``threshold`` (3). A mode is *captured* when it has at least
one high-quality sample. Reverse KL is KL(q || uniform) over the modes, q being the
histogram of the high-quality samples.

``check_points`` is the input check shared by every metric in this package.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import cdist


def check_points(x: np.ndarray, name: str = "points", dim: int | None = 2) -> np.ndarray:
    """``x`` as a finite float64 array of shape (N, dim) with N >= 1 (any d when ``dim`` is None).

    Raises a ValueError naming ``name``, the expected and the actual shape, or the non-finite rows.
    """
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a float array of shape (N, d), got {type(x).__name__}: {e}") from None
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim) or x.shape[0] == 0 or x.shape[1] == 0:
        want = f"(N, {dim})" if dim is not None else "(N, d)"
        raise ValueError(f"{name} must have shape {want} with N >= 1, got shape {x.shape!r}")
    bad = ~np.isfinite(x).all(1)  # (N,)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} holds {int(bad.sum())} non-finite row(s), the first is row {i}: {x[i]!r}")
    return x


def mode_stats(fake: np.ndarray, centers: np.ndarray, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Modes captured, % high-quality samples and reverse KL of ``fake`` against an equal-weight mixture.

    Args:
        fake: (N, d) generated samples.
        centers: (M, d) mode centres (equal weights).
        std: the modes' standard deviation (> 0).
        threshold: high quality = distance to the nearest mode < ``threshold * std``.

    Returns {"modes": int, "hq": percent in [0, 100], "reverse_kl": nats}. When no sample is of high
    quality, q is undefined (0 / 0) and ``reverse_kl`` is NaN rather than a made-up finite number:
    read it together with ``modes == 0``.
    """
    fake = check_points(fake, "fake", None)
    centers = check_points(centers, "centers", fake.shape[1])
    if not (isinstance(std, (int, float, np.floating, np.integer)) and math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a finite number > 0, got {std!r}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    dist = cdist(fake, centers) / std  # (N, M), in units of std
    nearest = dist.argmin(1)  # (N,)
    hq = dist[np.arange(len(fake)), nearest] < threshold  # (N,)
    counts = np.bincount(nearest[hq], minlength=len(centers))  # (M,)
    if counts.sum() == 0:
        reverse_kl = float("nan")
    else:
        # PacGAN / VEEGAN: KL(q || p) with p uniform over the M modes: sum_m q_m log(q_m / (1 / M)), q_m > 0
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(np.sum(q * np.log(q * len(centers))))
    return {"modes": int((counts > 0).sum()), "hq": float(100.0 * hq.mean()), "reverse_kl": reverse_kl}
