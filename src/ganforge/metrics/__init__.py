"""Metrics that compare distributions through samples. Each takes samples, never a model.

    from ganforge.metrics import evaluate_toy
    result = evaluate_toy(lambda n: run.sample(n), real_fn, centers=centers, std=0.01)
    result["model"]["modes"], result["floor"]["w1"]

``evaluate_toy`` reports every figure twice: generated vs real ("model"), and a second,
independent real sample vs real ("floor"), the best a model can score at this sample size.
The single metrics are importable too: ``mode_stats``, ``wasserstein1``,
``histogram_divergences``, ``mmd_test``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ganforge.metrics.divergences import PSEUDO_COUNT, histogram_divergences, wasserstein1
from ganforge.metrics.toy import check_points, mode_stats
from ganforge.metrics.two_sample import mmd_test

__all__ = ["evaluate_toy", "mode_stats", "wasserstein1", "histogram_divergences", "mmd_test"]


def _figures(fake: np.ndarray, real: np.ndarray, centers: np.ndarray | None, std: float | None,
             hq_threshold: float, bins: int, mmd_n: int, permutations: int, seed: int, mmd: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    if centers is not None and std is not None and std > 0:
        out.update(mode_stats(fake, centers, std, hq_threshold))
    out["w1"] = wasserstein1(fake, real)
    out.update(histogram_divergences(real, fake, bins=bins))
    if mmd:
        t = mmd_test(fake[:mmd_n], real[:mmd_n], permutations=permutations, seed=seed)
        out.update({"mmd2": t["mmd2"], "mmd_p": t["p_value"]})
    return out


def evaluate_toy(sample_fn: Callable[[int], np.ndarray], real_fn: Callable[[int, int], np.ndarray], *,
                 n: int = 2500, centers: np.ndarray | None = None, std: float | None = None,
                 hq_threshold: float = 3.0, bins: int = 50, mmd_n: int = 1000, permutations: int = 200,
                 seed: int = 0, floor: bool = True, mmd: bool = True) -> dict[str, dict[str, Any]]:
    """Generated vs real on every 2-D metric, and (``floor=True``) real vs real for comparison.

    Args:
        sample_fn: ``sample_fn(n)`` -> (n, 2) generated points in data coordinates.
        real_fn: ``real_fn(n, seed)`` -> (n, 2) real points drawn with that seed. The reference sample
            uses ``seed``, the floor's stand-in for the generator ``seed + 1``.
        n: samples per side (PacGAN protocol: 2,500).
        centers, std: the mixture's (M, 2) modes and their std; mode metrics (modes, hq, reverse_kl)
            are computed only when ``centers`` is given and ``std > 0``.
        hq_threshold, bins: see ``mode_stats`` and ``histogram_divergences``.
        mmd_n, permutations: MMD test on the first ``mmd_n`` points per side (cost grows as mmd_n^2).
        floor, mmd: compute the real-vs-real floor / the MMD test.

    Returns {"model": {...}, "floor": {...} (if ``floor``), "provenance": {...}}, plain Python values:
    modes, hq, reverse_kl, w1, kl, jsd, mmd2, mmd_p per side (reverse_kl may be NaN, see ``mode_stats``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if mmd and (isinstance(mmd_n, bool) or not isinstance(mmd_n, (int, np.integer)) or mmd_n < 1):
        raise ValueError(f"mmd_n must be an integer >= 1, got {mmd_n!r}")
    real = check_points(real_fn(n, seed), f"real_fn({n}, {seed})")  # (n, 2)
    fake = check_points(sample_fn(n), f"sample_fn({n})")  # (n, 2)
    args = dict(centers=centers, std=std, hq_threshold=hq_threshold, bins=bins, mmd_n=mmd_n,
                permutations=permutations, seed=seed, mmd=mmd)
    result: dict[str, dict[str, Any]] = {"model": _figures(fake, real, **args)}
    if floor:
        real2 = check_points(real_fn(n, seed + 1), f"real_fn({n}, {seed + 1})")  # (n, 2)
        result["floor"] = _figures(real2, real, **args)
    result["provenance"] = {
        "n": int(n), "n_fake": len(fake), "n_real": len(real), "mmd_n": min(int(mmd_n), len(fake), len(real)),
        "bins": int(bins), "alpha": PSEUDO_COUNT, "hq_threshold": float(hq_threshold),
        "permutations": int(permutations), "seed": int(seed), "w1": "exact (POT emd2, Euclidean)",
        "kl_jsd": f"shared {bins}x{bins} histogram, {PSEUDO_COUNT} pseudo-count per bin",
    }
    return result
